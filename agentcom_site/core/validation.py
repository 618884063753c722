"""Edge validation shared by HTTP bodies and WebSocket frames: the hub's one input gate.

Every body and frame is parsed by `loads`, which refuses what JSON allows but the hub
cannot store or hand on: nesting deeper than JSON_MAX_DEPTH (checked before parsing, so
a hostile depth never reaches the recursive parser), NaN and Infinity, integers outside
64 bits, NUL and lone surrogates in strings and keys. Schemas are strict pydantic
models; their errors are translated into the protocol's `errors[]` vocabulary so both
transports name the field and the problem the same way. Stored JSON fields, numbers and
timestamps get their own caps through the types below (limits in `core/limits.py`).
"""

import itertools
import json
import math
import re
import time
from typing import Annotated, Any, TypeVar

import pydantic
from django.conf import settings
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints
from pydantic_core import PydanticCustomError

from agentcom_site.core.errors import FieldProblem, HubError, ValidationFailed, invalid
from agentcom_site.core.limits import (
    AGENT_ID_RE,
    INT_MAX,
    INT_MIN,
    JSON_FIELD_BYTES,
    JSON_MAX_DEPTH,
    LIMITS,
    OPERATOR_ADDRESS_RE,
    TIME_WINDOW_MS,
)

Model = TypeVar("Model", bound=BaseModel)

__all__ = ["LIMITS"]  # re-exported: the apps read text limits from here

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
    "too_large": "too_large",
    "out_of_range": "out_of_range",
    "invalid_value": "invalid_value",
}


class Strict(BaseModel):
    """Base for edge schemas: no coercion, unknown fields ignored (PROTOCOL.md §1)."""

    model_config = ConfigDict(strict=True, extra="ignore")


def text(limit_key: str, *, min_length: int = 0) -> Any:
    return Annotated[str, StringConstraints(max_length=LIMITS[limit_key], min_length=min_length)]


# A tagged union's branches are tagged `kind:<value>` so their names stay out of paths.
TAG_PREFIX = "kind:"
_VALIDATOR_LOC_PREFIXES = ("function-", "constrained-", "union[", "tagged-union", TAG_PREFIX)
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
        elif kind in ("too_large", "out_of_range", "invalid_value"):
            detail = err.get("msg", "invalid value")  # our own sentences name the field
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
    frame = loads(text_data, what="the frame")
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


# --- the JSON gate ---------------------------------------------------------------------

_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
# NUL cannot be stored by Postgres; a lone surrogate cannot be encoded as UTF-8.
BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def nesting_depth(text_value: str) -> int:
    """How deep arrays and objects nest in JSON text, counted without parsing it.

    The parser recurses once per level, so depth is measured on the text first; a
    bracket inside a string does not count.
    """
    if text_value.count("[") + text_value.count("{") <= JSON_MAX_DEPTH:
        return 0  # too few brackets to go over the limit: skip the scan
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text_value))
    return max(itertools.accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


def _bad_text_detail(where: str, value: str) -> str:
    if "\x00" in value:
        return f"{where} contains NUL (\\u0000), which cannot be stored"
    return f"{where} contains a lone surrogate, which is not valid Unicode"


def _path(prefix: str | None, key: str | int) -> str:
    if isinstance(key, int):
        return f"{prefix or ''}[{key}]"
    return f"{prefix}.{key}" if prefix else key


def _storable(value: Any) -> bool:
    """Whether `json_problem` would find nothing: the same rules, without building paths,
    because every frame and every JSON column read passes here."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        kind = type(item)
        if kind is str:
            if BAD_TEXT.search(item):
                return False
        elif kind is dict:
            if depth >= JSON_MAX_DEPTH:
                return False
            for key, child in item.items():
                if type(key) is not str or BAD_TEXT.search(key):
                    return False
                push((child, depth + 1))
        elif kind is list:
            if depth >= JSON_MAX_DEPTH:
                return False
            for child in item:
                push((child, depth + 1))
        elif kind is int:
            if not INT_MIN <= item <= INT_MAX:
                return False
        elif kind is float:
            if not math.isfinite(item):
                return False
        elif item is not None and kind is not bool:
            return False
    return True


def json_problem(value: Any, *, field: str | None = None) -> FieldProblem | None:
    """The first reason `value` may not be stored or handed on as JSON, or None.

    Walks without recursion, so any depth is safe to check. `field` prefixes the paths.
    """
    if _storable(value):
        return None
    stack: list[tuple[Any, int, str | None]] = [(value, 0, field)]
    while stack:
        item, depth, path = stack.pop()
        where = path or "the value"
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, str):
            if BAD_TEXT.search(item):
                return FieldProblem(path, "invalid_value", _bad_text_detail(where, item))
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                return FieldProblem(
                    path, "out_of_range", f"{where} is outside the signed 64-bit integer range"
                )
        elif isinstance(item, float):
            if not math.isfinite(item):
                return FieldProblem(
                    path, "invalid_value", f"{where} is NaN or infinite, which JSON cannot carry"
                )
        elif isinstance(item, dict | list):
            if depth >= JSON_MAX_DEPTH:
                return FieldProblem(
                    path, "too_large", f"{where} nests deeper than {JSON_MAX_DEPTH} levels"
                )
            if isinstance(item, list):
                stack.extend((v, depth + 1, _path(path, i)) for i, v in enumerate(item))
                continue
            for key, child in item.items():
                if not isinstance(key, str):
                    return FieldProblem(path, "wrong_type", f"{where} has a key that is not text")
                if BAD_TEXT.search(key):
                    return FieldProblem(
                        path, "invalid_value", _bad_text_detail(f"a key of {where}", key)
                    )
                stack.append((child, depth + 1, _path(path, key)))
        else:
            return FieldProblem(path, "wrong_type", f"{where} is not a JSON value")
    return None


def loads(data: str | bytes, *, what: str = "the body") -> Any:
    """Parse JSON text from the network through the gate, or raise the refusal.

    `invalid_json` for text that is not JSON (or not UTF-8); `validation_failed` for
    JSON the hub will not take (too deep, NaN/Infinity, huge integers, NUL, surrogates).
    """
    if isinstance(data, bytes):
        try:
            # Decoding here, strictly: json.loads would let encoded surrogates through.
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise HubError("invalid_json", f"{what} is not UTF-8: {exc}") from None
    depth = nesting_depth(data)
    if depth > JSON_MAX_DEPTH:
        raise invalid(
            None, "too_large", f"{what} nests {depth} levels deep; the limit is {JSON_MAX_DEPTH}"
        )
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise HubError("invalid_json", f"{what} is not valid JSON: {exc}") from None
    problem = json_problem(value)
    if problem is not None:
        raise ValidationFailed([problem])
    return value


def json_size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON: what a stored JSON field is capped by."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def check_json_cap(value: Any, cap_key: str) -> Any:
    """`value` if it is storable JSON within its cap (JSON_FIELD_BYTES[cap_key]), else a
    pydantic error naming the problem; for schema fields (see `stored_json`)."""
    problem = json_problem(value)
    if problem is not None:
        raise PydanticCustomError(problem.error, problem.detail)
    cap = JSON_FIELD_BYTES[cap_key]
    size = json_size(value)
    if size > cap:
        raise PydanticCustomError(
            "too_large",
            "{size} bytes of JSON is over the {cap} byte limit",
            {"size": size, "cap": cap},
        )
    return value


def stored_json(cap_key: str, kind: Any = dict[str, Any]) -> Any:
    """A JSON field that will be stored: gate rules plus the field's byte cap."""
    return Annotated[kind, AfterValidator(lambda v: check_json_cap(v, cap_key))]


def _within_time_window(value: int) -> int:
    now_ms = int(time.time() * 1000)
    if abs(value - now_ms) > TIME_WINDOW_MS:
        raise PydanticCustomError(
            "out_of_range", "the time must be within 100 years of now (milliseconds since epoch)"
        )
    return value


# Milliseconds since the epoch, at most 100 years from now either way.
TimeMs = Annotated[int, pydantic.Field(ge=0), AfterValidator(_within_time_window)]


# --- identifiers -----------------------------------------------------------------------

AGENT_ID_RULE = (
    f"1-{LIMITS['agent_id']} ASCII letters, digits, '.', '_' or '-', "
    "starting with a letter or digit"
)


def agent_id_ok(value: Any) -> bool:
    """An agent id (PROTOCOL.md §1) is ASCII letters, digits, `.`, `_`, `-`, starting with
    a letter or digit: no control character, space, look-alike letter or `:` gets in."""
    return isinstance(value, str) and AGENT_ID_RE.fullmatch(value) is not None


def _agent_id(value: str) -> str:
    if not agent_id_ok(value):
        raise PydanticCustomError("invalid_value", "an agent id is " + AGENT_ID_RULE)
    return value


# For ids that create an agent and for ids only looked up (recipients, filters): a bad
# one is refused rather than echoed back in a 404.
AgentId = Annotated[
    str, StringConstraints(min_length=1, max_length=LIMITS["agent_id"]), AfterValidator(_agent_id)
]


def _recipient(value: str) -> str:
    if not agent_id_ok(value) and OPERATOR_ADDRESS_RE.fullmatch(value) is None:
        raise PydanticCustomError(
            "invalid_value", "a recipient is an agent id or operator:<username>"
        )
    return value


# A direct message's `to`: an agent, or a person as `operator:<username>` (PROTOCOL.md §4.6).
Recipient = Annotated[
    str,
    StringConstraints(min_length=1, max_length=LIMITS["agent_id"]),
    AfterValidator(_recipient),
]


def check_agent_id(value: Any, *, field: str = "agent_id") -> str:
    """`value` if it is a well-formed agent id, else validation_failed naming `field`."""
    if not agent_id_ok(value):
        raise invalid(field, "invalid_value", f"{field} must be {AGENT_ID_RULE}")
    return value
