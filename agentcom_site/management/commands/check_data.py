"""`manage.py check_data`: rows stored before the input gate that it would now refuse.

Lists each (model, pk, field, problem) and exits 1 when there is any, so it can gate a
deploy. Reads the raw column text, not the model field: the field masks a bad value
as `{"unreadable": …}` and would hide it here (`core/storedjson.py`).
"""

from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from agentcom_site.core.limits import AGENT_ID_RE, CHANNEL_RE
from agentcom_site.core.storedjson import StoredJSONField, read_stored
from agentcom_site.core.validation import json_problem

CHUNK = 1_000

# Identifier columns checked against their pattern (PROTOCOL.md §1): model label, field.
IDENTIFIERS = {("agents.Agent", "agent_id"): AGENT_ID_RE, ("messaging.Channel", "name"): CHANNEL_RE}


def _column_rows(model: Any, field: Any) -> Iterator[tuple[Any, Any]]:
    quote = connection.ops.quote_name
    sql = (
        f"SELECT {quote(model._meta.pk.column)}, {quote(field.column)} "
        f"FROM {quote(model._meta.db_table)} WHERE {quote(field.column)} IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        while rows := cursor.fetchmany(CHUNK):
            yield from rows


def _json_problem(raw: Any) -> str | None:
    if isinstance(raw, str):
        return read_stored(raw)[1]
    problem = json_problem(raw)  # a driver that decodes JSON itself
    return problem.detail if problem is not None else None


def problems() -> Iterator[tuple[str, Any, str, str]]:
    """(model label, pk, field, problem) for every stored value the gate would refuse."""
    for model in apps.get_models():
        label = model._meta.label
        for field in model._meta.concrete_fields:
            if isinstance(field, StoredJSONField):
                for pk, raw in _column_rows(model, field):
                    reason = _json_problem(raw)
                    if reason is not None:
                        yield label, pk, field.name, reason
            pattern = IDENTIFIERS.get((label, field.name))
            if pattern is not None:
                for pk, raw in _column_rows(model, field):
                    if pattern.fullmatch(raw) is None:
                        yield label, pk, field.name, f"{raw!r} does not match {pattern.pattern}"


class Command(BaseCommand):
    help = "List stored rows the input gate would refuse (model, pk, field, problem)."

    def handle(self, *args: Any, **options: Any) -> None:
        found = 0
        for label, pk, field, reason in problems():
            found += 1
            self.stdout.write(f"{label}\t{pk}\t{field}\t{reason}")
        if found:
            raise CommandError(f"{found} stored value(s) cannot be read as the gate requires")
        self.stdout.write("no problems found")
