"""Response bodies of the task routes (PROTOCOL.md §4.5); task records are in `tasks.wire`."""

from typing import Literal

from agentcom_site.core.schemas import Out
from tasks.wire import TaskSummaryOut


class TaskSubmittedOut(Out):
    """201 for a new task; 200, with its current status, for an idempotent replay."""

    status: str
    task_id: str
    title: str
    priority: int
    created_at: int


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
