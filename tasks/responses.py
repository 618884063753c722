"""Response bodies of the task routes (PROTOCOL.md §4.5); task records are in `tasks.wire`."""

from typing import Any, Literal

from agentcom_site.core.schemas import Out
from tasks.wire import TaskSummaryOut


class SubmissionWarningOut(Out):
    """Accepted, but worth knowing: `no_agent_with_capabilities` (no registered agent
    has every capability the task needs; it waits until one registers)."""

    code: str
    message: str


class TaskSubmittedOut(Out):
    """201 for a new task; 200, with its current status, for an idempotent replay.
    `warnings` is empty when there is nothing to say."""

    status: str
    task_id: str
    title: str
    priority: int
    created_at: int
    warnings: list[SubmissionWarningOut]


class BatchEntryOut(TaskSubmittedOut):
    created: bool


class BatchSubmittedOut(Out):
    """The entries in request order; `created` counts the new tasks."""

    tasks: list[BatchEntryOut]
    created: int


class TaskListOut(Out):
    """At most 200 summaries a page; `total` counts every match."""

    tasks: list[TaskSummaryOut]
    count: int
    total: int


class DeadLetterOut(Out):
    """The first 200 dead letters; `total` counts them all."""

    tasks: list[TaskSummaryOut]
    count: int
    total: int


class QueueCountsOut(Out):
    """Every status and every priority is present; `by_priority` counts queued tasks and is
    keyed by the priority's integer as a string."""

    by_status: dict[str, int]
    by_priority: dict[str, int]
    dead_letter: int


class TaskStatsOut(QueueCountsOut):
    queued_index_size: int


class TaskRequeuedOut(Out):
    status: Literal["requeued"]
    task_id: str
    priority: int


class TaskCancelledOut(Out):
    status: Literal["cancelled"]
    task_id: str


class TaskPushedOut(Out):
    status: Literal["pushed"]
    task_id: str
    agent_id: str


class ExplainReasonOut(Out):
    """One reason: a stable `code`, a sentence, and bounded `details` (lists ≤ 10 with a
    `count`). Codes: waiting_on_dependencies, deadline_passed, paused, wip_cap,
    no_agent_with_capabilities, capable_agents_offline, capable_agents_draining,
    all_capable_agents_busy, rejected_by_all_capable, held_off, pinned_agent_offline,
    pinned_agent_draining, dispatching; or, for a task that is not queued, its status."""

    code: str
    message: str
    details: dict[str, Any]


class TaskExplainOut(Out):
    task_id: str
    status: str
    reasons: list[ExplainReasonOut]
    at: int


class TaskAnsweredOut(Out):
    """The task is `working` again; `answer_id` numbers this answer (1, 2, ...)."""

    status: str
    task_id: str
    answer_id: int
