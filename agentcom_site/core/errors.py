"""Errors as values: a machine-readable code, a human sentence, an HTTP status.

The HTTP layer renders them as `{"error", "detail", ...extra}`; the WebSocket layer
as `{"type": "error", "error", "detail", ...extra}` (PROTOCOL.md §1).
"""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldProblem:
    field: str | None
    error: str  # required, wrong_type, too_long, too_large, out_of_range, invalid_value, not_found
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "error": self.error, "detail": self.detail}


class HubError(Exception):
    """A refusal: nothing changed, the caller gets `code` and `detail`."""

    def __init__(self, code: str, detail: str, *, http_status: int = 400, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.http_status = http_status
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}


class ValidationFailed(HubError):
    def __init__(self, problems: list[FieldProblem], *, message_type: str | None = None) -> None:
        first = problems[0].detail if problems else "the input is invalid"
        extra: dict[str, Any] = {"errors": [p.as_dict() for p in problems]}
        if message_type is not None:
            extra["message_type"] = message_type
        super().__init__("validation_failed", first, http_status=422, **extra)
        self.problems = problems

    def within(self, prefix: str) -> "ValidationFailed":
        """The same problems, with field paths inside a larger body (`tasks[3].`)."""
        return ValidationFailed(
            [FieldProblem(f"{prefix}{p.field or ''}", p.error, p.detail) for p in self.problems]
        )


def invalid(field: str | None, error: str, detail: str, **kwargs: Any) -> ValidationFailed:
    return ValidationFailed([FieldProblem(field, error, detail)], **kwargs)


def not_found(code: str, detail: str, **extra: Any) -> HubError:
    return HubError(code, detail, http_status=404, **extra)


def conflict(code: str, detail: str, **extra: Any) -> HubError:
    return HubError(code, detail, http_status=409, **extra)


def forbidden(detail: str, code: str = "forbidden") -> HubError:
    return HubError(code, detail, http_status=403)


def unauthorized(detail: str = "a valid token is required") -> HubError:
    return HubError(
        "unauthorized", detail, http_status=401, hint="provide Authorization: Bearer <token>"
    )


def payload_too_large(limit: int) -> HubError:
    return HubError(
        "payload_too_large", f"the body is over the {limit} byte limit", http_status=413
    )


def internal_error() -> HubError:
    return HubError(
        "internal_error",
        "the hub failed to handle this frame; the failure is logged",
        http_status=500,
    )


def too_many_unidentified(limit: int) -> HubError:
    return HubError(
        "too_many_unidentified",
        f"over {limit} sockets from this address have not identified yet",
        http_status=429,
    )


def shutting_down() -> HubError:
    return HubError(
        "shutting_down",
        "this hub process is stopping; retry to reach the next one",
        http_status=503,
    )


def hub_full() -> HubError:
    return HubError(
        "hub_full", "the hub holds too many unidentified sockets; retry later", http_status=503
    )


# --- refusals several modules raise --------------------------------------------------------


def invalid_token() -> HubError:
    return HubError("invalid_token", "the token is unknown, revoked or not an agent token")


def unknown_agent(agent_id: str) -> HubError:
    """A direct message to an agent id nobody registered: refused, no mailbox is made."""
    return HubError("unknown_agent", f"there is no agent {agent_id}", http_status=404, to=agent_id)


def too_many_channels(creator: str, cap: int) -> HubError:
    return HubError(
        "too_many_channels",
        f"{creator} has created {cap} channels, the most one agent may create",
        http_status=409,
        limit=cap,
    )
