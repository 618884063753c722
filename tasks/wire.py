"""Task shapes on the wire (PROTOCOL.md §3.1, §3.2): integer priorities, ms timestamps.

Each builder is followed by the schema that describes what it writes, for the API docs.
"""

from typing import Any

from django.conf import settings
from pydantic import Field

from agentcom_site.core.clock import to_ms
from agentcom_site.core.schemas import Out
from tasks.delegation import children_of
from tasks.models import Task, TaskEvent

HISTORY_LIMIT = 50
# What a list leaves out: read one task for these (PROTOCOL.md §4.5).
# The definition's large fields too: 200 tasks of 20 long steps each would pass the
# response cap.
LARGE_DEFINITION_FIELDS = ("file_hints", "success_criteria", "verification_steps")
SUMMARY_OMITS = ("metadata", "result", "progress", *LARGE_DEFINITION_FIELDS)


def definition_fields(task: Task, *, large: bool = True) -> dict[str, Any]:
    """What "done" means, as task_assign and the task record carry it (PROTOCOL.md §3.2):
    additive fields an older sidecar ignores. Without `large`, the fields that may be
    long are null (task summaries; LARGE_DEFINITION_FIELDS are not even read then)."""
    return {
        "repo": task.repo or None,
        "branch": task.branch or None,
        "file_hints": task.file_hints if large else None,
        "success_criteria": (task.success_criteria or None) if large else None,
        "verification_steps": task.verification_steps if large else None,
        "max_verification_retries": task.max_verification_retries,
        "complexity": task.complexity,
        "complexity_reason": task.complexity_reason,
        "complexity_estimated": task.complexity_estimated,
    }


def cost_fields(task: Task) -> dict[str, Any]:
    """What the result cost; `cost_usd` as a number (it is stored as a decimal)."""
    return {
        "tokens_in": task.tokens_in,
        "tokens_out": task.tokens_out,
        "model": task.model or None,
        "cost_usd": float(task.cost_usd) if task.cost_usd is not None else None,
        "cost_computed": task.cost_computed,
        "execution_ms": task.execution_ms,
        "iterations": task.iterations,
        "session_id": task.session_id or None,
    }


class DefinitionOut(Out):
    repo: str | None
    branch: str | None
    file_hints: list[str]
    success_criteria: str | None
    # Each step as submitted: `type` and its own fields (PROTOCOL.md §4.5).
    verification_steps: list[dict[str, Any]]
    max_verification_retries: int
    complexity: str
    complexity_reason: str
    complexity_estimated: bool


class CostOut(Out):
    tokens_in: int | None
    tokens_out: int | None
    model: str | None
    cost_usd: float | None
    cost_computed: bool
    execution_ms: int | None
    iterations: int | None
    session_id: str | None


def question_fields(task: Task) -> dict[str, Any]:
    """The holder's latest question and the operator's latest answer, if any (§3.9)."""
    return {
        "question": task.question or None,
        "asked_at": to_ms(task.asked_at),
        "answer": task.answer or None,
        "answered_by": task.answered_by or None,
        "answered_at": to_ms(task.answered_at),
        "answer_id": task.answer_id,
    }


class QuestionOut(Out):
    question: str | None
    asked_at: int | None
    answer: str | None
    answered_by: str | None
    answered_at: int | None
    answer_id: int


def history_entry(event: TaskEvent) -> dict[str, Any]:
    return {
        "event": event.event,
        "timestamp": to_ms(event.created_at),
        "details": event.reason,
        "from": event.from_status or None,
        "to": event.to_status,
        "actor": event.actor,
        "agent_id": event.agent_id or None,
        "generation": event.generation,
        "seq": event.seq,
        "repeats": event.repeats,
    }


class HistoryEntryOut(Out):
    event: str
    timestamp: int
    details: str
    from_status: str | None = Field(alias="from")
    to: str
    actor: str
    agent_id: str | None
    generation: int
    seq: int
    repeats: int


def task_record(task: Task, *, history: bool = True) -> dict[str, Any]:
    record = _record(
        task,
        description=task.description,
        metadata=task.metadata,
        progress=task.progress,
        result=task.result,
    )
    if history:
        record["children"] = children_of(task)
        events = task.events.order_by("-seq")[:HISTORY_LIMIT]
        record["history"] = [history_entry(e) for e in events]
    return record


class TaskCoreOut(Out):
    """A task's own fields, in the order `_record` writes them."""

    id: str
    task_id: str
    title: str
    description: str
    metadata: dict[str, Any]
    priority: int
    status: str
    assigned_to: str | None
    assigned_at: int | None
    accepted_at: int | None
    generation: int
    retry_count: int
    max_retries: int
    needed_capabilities: list[str]
    depends_on: list[str]
    parent: str | None
    pinned_to: str | None
    idempotency_key: str | None
    complete_by: int | None
    last_error: str | None
    progress: Any
    result: Any
    tokens_used: int | None
    rejected_by: list[str]
    submitted_by: str
    created_at: int
    updated_at: int
    completed_at: int | None


class TaskRecordOut(QuestionOut, CostOut, DefinitionOut, TaskCoreOut):
    """A task's record (`task_record`) without its history. `metadata`, `progress` and
    `result` are whatever the submitter and the agent sent; the definition of done and
    the cost fields, then the question fields follow the rest (pydantic takes the bases'
    fields from the last)."""


class ChildOut(Out):
    id: str
    status: str


class TaskDetailOut(TaskRecordOut):
    """One task: the record plus its children (the first 100, oldest first, for a task
    its holder delegated from) and its last 50 history entries, newest first."""

    children: list[ChildOut]
    history: list[HistoryEntryOut]


def assign_frame(task: Task) -> dict[str, Any]:
    return {
        "type": "task_assign",
        "task_id": task.id,
        "description": task.description,
        "metadata": task.metadata,
        "generation": task.generation,
        "assigned_at": to_ms(task.assigned_at),
        "title": task.title,
        "priority": task.priority,
        "complete_by": to_ms(task.complete_by),
        "needed_capabilities": task.needed_capabilities,
        **definition_fields(task),
    }


def input_frame(task: Task) -> dict[str, Any]:
    """`task_input`: the operator's latest answer to the holder's question (§3.9)."""
    return {
        "type": "task_input",
        "task_id": task.id,
        "generation": task.generation,
        "answer_id": task.answer_id,
        "question": task.question,
        "answer": task.answer,
    }


def task_summary(task: Task) -> dict[str, Any]:
    """A task as lists show it: the record without history, its description cut to a
    preview and its large fields null, so a page stays small whatever the tasks hold.
    The queryset should defer SUMMARY_OMITS: they are never read here."""
    preview = settings.AGENTCOM_DESCRIPTION_PREVIEW
    return _record(
        task,
        description=task.description[:preview],
        description_truncated=len(task.description) > preview,
        metadata=None,
        progress=None,
        result=None,
        large_definition=False,
    )


def _record(
    task: Task,
    *,
    description: str,
    metadata: Any,
    progress: Any,
    result: Any,
    description_truncated: bool | None = None,
    large_definition: bool = True,
) -> dict[str, Any]:
    """The task's fields in the order of PROTOCOL.md §3.1; the large ones as given."""
    record: dict[str, Any] = {
        "id": task.id,
        "task_id": task.id,
        "title": task.title,
        "description": description,
    }
    record.update(
        {
            "metadata": metadata,
            "priority": task.priority,
            "status": task.status,
            "assigned_to": task.holder.agent_id if task.holder_id else None,
            "assigned_at": to_ms(task.assigned_at),
            "accepted_at": to_ms(task.accepted_at),
            "generation": task.generation,
            "retry_count": task.retry_count,
            "max_retries": task.max_retries,
            "needed_capabilities": task.needed_capabilities,
            "depends_on": sorted(d.id for d in task.depends_on.all()),
            "parent": task.parent_id,
            "pinned_to": task.pinned_to.agent_id if task.pinned_to_id else None,
            "idempotency_key": task.idempotency_key,
            "complete_by": to_ms(task.complete_by),
            "last_error": task.last_error or None,
            "progress": progress,
            "result": result,
            "tokens_used": task.tokens_used,
            "rejected_by": task.rejected_by,
            "submitted_by": task.submitted_by,
            "created_at": to_ms(task.created_at),
            "updated_at": to_ms(task.updated_at),
            "completed_at": to_ms(task.completed_at),
            **definition_fields(task, large=large_definition),
            **cost_fields(task),
            **question_fields(task),
        }
    )
    if description_truncated is not None:
        record["description_truncated"] = description_truncated
    return record


class TaskSummaryOut(TaskRecordOut):
    """A task in lists (`task_summary`): the description cut to a preview; `metadata`,
    `progress`, `result`, `file_hints`, `success_criteria` and `verification_steps`
    always null (read the one task for them)."""

    metadata: None
    progress: None
    result: None
    file_hints: None
    success_criteria: None
    verification_steps: None
    description_truncated: bool
