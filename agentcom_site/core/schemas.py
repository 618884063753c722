"""Response schemas every app shares: the base for answers and the refusal body (§1, §4.1).

Routes name a schema for each status they can answer, so `/api/openapi.json` documents
every body. Refusals are rendered from `HubError.as_dict()` by the API root and the body
guard, never through these classes: they only describe what those write.
"""

from pydantic import BaseModel, ConfigDict


class Out(BaseModel):
    """Base of response schemas; each describes a dict that a view or a builder makes.

    ninja passes the dict through the schema and writes the declared fields in declaration
    order, dropping any key the schema does not name and coercing loosely (an `int` field
    turns `True` into `1`). So a schema names every key its builder writes, in the same
    order, with the type the builder writes: the wire stays what the builder made.
    """


class FieldProblemOut(Out):
    field: str | None
    error: str
    detail: str


class ErrorOut(Out):
    """`{"error", "detail", ...}`: clients key on `error`; some codes add keys of their own
    (`task_id`, `status`, `channel`, `agent_id`, `message_id`)."""

    model_config = ConfigDict(extra="allow")

    error: str
    detail: str


class UnauthorizedOut(ErrorOut):
    hint: str


class ValidationFailedOut(ErrorOut):
    """422 `validation_failed`; `detail` repeats the first problem's."""

    errors: list[FieldProblemOut]


# What the body guard (agentcom_site/middleware.py) answers for a POST, PUT or DELETE
# before any view runs: invalid_json, payload_too_large, unsupported_media_type.
BODY_GUARD = (400, 413, 415)


class RateLimitedOut(ErrorOut):
    """429 `rate_limited`, with the `Retry-After` header in seconds."""

    retry_after_ms: int


_SCHEMA_OF = {401: UnauthorizedOut, 422: ValidationFailedOut, 429: RateLimitedOut}


def refusals(*statuses: int) -> dict[int, type[ErrorOut]]:
    """The `response=` entries for the error statuses a route can answer.

    A route that takes a credential (401) is also rate limited (429), like every route
    a principal calls (PROTOCOL.md §1)."""
    wanted = set(statuses) | ({429} if 401 in statuses else set())
    return {status: _SCHEMA_OF.get(status, ErrorOut) for status in sorted(wanted)}
