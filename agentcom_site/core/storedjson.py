"""JSON columns whose reads never fail because of one stored row.

Rows written before the input gate (`core/validation.py`) existed may hold what it now
refuses: NaN, integers beyond 64 bits, NUL, nesting deep enough to exhaust the parser's
recursion. Such a value is read as `{"unreadable": "<reason>"}`, so lists, details, the
dashboard and the admin still render; `manage.py check_data` lists the rows.
"""

import json
from typing import Any

from django.db import models
from django.db.models.fields.json import KeyTransform

from agentcom_site.core.limits import JSON_MAX_DEPTH
from agentcom_site.core.validation import json_problem, nesting_depth

UNREADABLE = "unreadable"


def unreadable(reason: str) -> dict[str, str]:
    return {UNREADABLE: reason}


def is_unreadable(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and UNREADABLE in value


def read_stored(text: str) -> tuple[Any, str | None]:
    """The value of stored JSON text and, if the gate would refuse it, the reason."""
    depth = nesting_depth(text)
    if depth > JSON_MAX_DEPTH:
        return None, f"nests {depth} levels deep; the limit is {JSON_MAX_DEPTH}"
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return None, f"not valid JSON: {exc}"
    problem = json_problem(value)
    return value, (problem.detail if problem is not None else None)


class StoredJSONField(models.JSONField):
    """A JSONField that reads a bad stored value as `{"unreadable": reason}`."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if not isinstance(value, str) or isinstance(expression, KeyTransform):
            return super().from_db_value(value, expression, connection)
        loaded, reason = read_stored(value)
        return loaded if reason is None else unreadable(reason)

    def deconstruct(self) -> Any:
        # Reads differ, the column does not: migrations see a plain JSONField.
        name, _, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs
