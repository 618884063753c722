"""Edge validation shared by HTTP bodies and WebSocket frames.

Schemas are strict pydantic models; their errors are translated into the protocol's
`errors[]` vocabulary so both transports name the field and the problem the same way.
"""

import json
from typing import Annotated, Any, TypeVar

import pydantic
from django.conf import settings
from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints

from agentcom_site.core.errors import FieldProblem, HubError, ValidationFailed

Model = TypeVar("Model", bound=BaseModel)

# Limits in characters (PROTOCOL.md §1).
LIMITS = {
    "agent_id": 128,
    "description": 10_000,
    "title": 200,
    "status": 256,
    "channel": 64,
    "token": 256,
    "reason": 2_000,
    "name": 256,
    "idempotency_key": 128,
    "capability": 128,
    "message_type": 64,
    "task_id": 128,
}

_ERROR_KINDS = {
    "missing": "required",
    "string_too_long": "too_long",
    "too_long": "too_long",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "string_too_short": "invalid_value",
    "too_short": "invalid_value",
    "value_error": "invalid_value",
    "literal_error": "invalid_value",
    "enum": "invalid_value",
    "string_pattern_mismatch": "invalid_value",
    "extra_forbidden": "invalid_value",
}


class Strict(BaseModel):
    """Base for edge schemas: no coercion, unknown fields ignored (PROTOCOL.md §1)."""

    model_config = ConfigDict(strict=True, extra="ignore")


def text(limit_key: str, *, min_length: int = 0) -> Any:
    return Annotated[str, StringConstraints(max_length=LIMITS[limit_key], min_length=min_length)]


_VALIDATOR_LOC_PREFIXES = ("function-", "constrained-", "union[", "tagged-union")
_TYPE_LOC_PARTS = ("str", "int", "dict", "list", "bool", "float", "none")


def _field_path(loc: tuple[Any, ...]) -> str | None:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).startswith(_VALIDATOR_LOC_PREFIXES) or part in _TYPE_LOC_PARTS:
            continue  # pydantic names validator and union branches in the location
        else:
            path += ("." if path else "") + str(part)
    return path or None


def problems_from(exc: pydantic.ValidationError | list[dict[str, Any]]) -> list[FieldProblem]:
    raw = exc.errors() if isinstance(exc, pydantic.ValidationError) else exc
    problems: list[FieldProblem] = []
    seen: set[str | None] = set()
    for err in raw:
        field = _field_path(tuple(err.get("loc", ())))
        if field in seen:  # unions report one failure per branch; the first says enough
            continue
        seen.add(field)
        kind = err.get("type", "")
        error = _ERROR_KINDS.get(kind, "wrong_type" if kind.endswith("_type") else "invalid_value")
        name = field or "the input"
        if error == "required":
            detail = f"{name} is required"
        elif error == "wrong_type":
            detail = f"{name} has the wrong type: {err.get('msg', '').lower()}"
        else:
            detail = f"{name}: {err.get('msg', 'invalid value')}"
        problems.append(FieldProblem(field, error, detail))
    return problems


def validate(schema: type[Model], data: Any, *, message_type: str | None = None) -> Model:
    """Parse `data` into `schema` or raise ValidationFailed naming every bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed(
            [FieldProblem(None, "wrong_type", "the body must be a JSON object")],
            message_type=message_type,
        )
    try:
        return schema.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationFailed(problems_from(exc), message_type=message_type) from None


def parse_frame(text_data: str | None, bytes_data: bytes | None) -> dict[str, Any]:
    """A WebSocket message as a frame, checked in PROTOCOL.md §2.1 order (size, JSON, type)."""
    size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
    limit = settings.AGENTCOM_MAX_FRAME_BYTES
    if size > limit:
        raise ValidationFailed(
            [FieldProblem(None, "too_large", f"the frame is over the {limit} byte limit")],
            message_type=None,
        )
    if text_data is None:
        raise HubError("invalid_json", "binary frames are not accepted; send JSON text")
    try:
        frame = json.loads(text_data)
    except ValueError as exc:
        raise HubError("invalid_json", f"the frame is not valid JSON: {exc}") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise ValidationFailed(
            [FieldProblem("type", "required", "a frame is a JSON object with a string type")],
            message_type=None,
        )
    return frame


def _capability_name(value: Any) -> Any:
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return value["name"]
    return value


# A capability is a string or {"name": "x"}; both normalise to "x" (PROTOCOL.md §3.8).
Capability = Annotated[
    str,
    BeforeValidator(_capability_name),
    StringConstraints(min_length=1, max_length=LIMITS["capability"]),
]


def unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))
