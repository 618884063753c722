"""Input schemas for task requests (PROTOCOL.md §4.5), shared by HTTP and admin forms."""

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from agentcom_site.core.limits import MAX_RETRIES_MAX
from agentcom_site.core.validation import (
    LIMITS,
    AgentId,
    Capability,
    Strict,
    TimeMs,
    stored_json,
    text,
)
from tasks.models import Priority

PRIORITY_NAMES = {
    "urgent": Priority.URGENT,
    "critical": Priority.URGENT,  # legacy v1.0 name
    "high": Priority.HIGH,
    "normal": Priority.NORMAL,
    "low": Priority.LOW,
}


def parse_priority(value: Any) -> Any:
    """Names (any case, `critical` = urgent) become integers; integers pass to the range check."""
    if isinstance(value, str):
        try:
            return int(PRIORITY_NAMES[value.strip().lower()])
        except KeyError:
            raise ValueError("priority must be urgent, high, normal, low or 0-3") from None
    return value


PriorityValue = Annotated[int, BeforeValidator(parse_priority), Field(ge=0, le=3)]
TaskId = text("task_id", min_length=1)
Metadata = stored_json("metadata")
MaxRetries = Annotated[int, Field(ge=0, le=MAX_RETRIES_MAX)]


class TaskSubmitIn(Strict):
    description: text("description", min_length=1)  # type: ignore[valid-type]
    title: text("title") | None = None  # type: ignore[valid-type]
    priority: PriorityValue = Priority.NORMAL
    metadata: Metadata = Field(default_factory=dict)  # type: ignore[valid-type]
    max_retries: MaxRetries = 3
    complete_by: TimeMs | None = None
    needed_capabilities: Annotated[list[Capability], Field(max_length=64)] = Field(
        default_factory=list
    )
    idempotency_key: text("idempotency_key", min_length=1) | None = None  # type: ignore[valid-type]
    depends_on: Annotated[list[TaskId], Field(max_length=100)] = Field(default_factory=list)  # type: ignore[valid-type]
    assign_to: AgentId | None = None


BATCH_MAX = 500


class TaskBatchIn(Strict):
    tasks: Annotated[list[TaskSubmitIn], Field(min_length=1, max_length=BATCH_MAX)]


class PushTaskIn(Strict):
    agent_id: AgentId
    description: text("description", min_length=1)  # type: ignore[valid-type]
    title: text("title") | None = None  # type: ignore[valid-type]
    metadata: Metadata = Field(default_factory=dict)  # type: ignore[valid-type]
    priority: PriorityValue = Priority.NORMAL
    max_retries: MaxRetries = 3


class CancelIn(Strict):
    reason: Annotated[str, Field(max_length=LIMITS["reason"])] = "cancelled"
