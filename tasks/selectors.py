"""Read-side queries over tasks: queue order, filters and counts."""

from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Q, QuerySet

from agentcom_site.core import rows
from agentcom_site.core.clock import now
from agentcom_site.core.errors import invalid
from tasks.models import Priority, Task, TaskEvent, TaskStatus
from tasks.schemas import parse_priority


def queue_order(queryset: QuerySet[Task]) -> QuerySet[Task]:
    """Priority lane first, then age (FIFO inside a lane)."""
    return queryset.order_by("priority", "created_at", "id")


def eligible_queued() -> QuerySet[Task]:
    """Queued tasks the scheduler may hand out now: dependencies done, deadline not passed."""
    moment = now()
    return queue_order(
        Task.objects.filter(status=TaskStatus.QUEUED, waiting_on=0).filter(
            Q(complete_by__isnull=True) | Q(complete_by__gt=moment)
        )
    )


# What a scheduling pass reads of a queued task, the first three fields its queue order.
CANDIDATE_FIELDS = (
    "priority",
    "created_at",
    "id",
    "capability_key",
    "rejected_by",
    "pinned_to_id",
    "held_off",
    "submitted_by",
    "repo",
)
_ELIGIBLE_SQL = (
    '"status" = %s AND "waiting_on" = 0 AND ("complete_by" IS NULL OR "complete_by" > %s)'
)
_AFTER_SQL = (
    ' AND ("priority" > %s OR ("priority" = %s AND "created_at" > %s)'
    ' OR ("priority" = %s AND "created_at" = %s AND "id" > %s))'
)


def eligible_page(
    *,
    capability_key: str | None = None,
    pinned_pk: int | None = None,
    leave_out: list[str] | tuple = (),
    leave_out_repos: list[str] | tuple = (),
    after: tuple | None = None,
    size: int,
) -> list[tuple]:
    """One page of `eligible_queued()` in queue order, as CANDIDATE_FIELDS tuples: the
    unpinned tasks of one capability key, or the tasks pinned to one agent; without the
    submitters in `leave_out` and the repos in `leave_out_repos`; strictly after the
    (priority, created_at, id) `after`.

    Fixed SQL (core/rows.py): each pass reads a page per stream, and building it through
    a QuerySet cost more than running it. Same rule and same index as the QuerySet.
    """
    adapt = connection.ops.adapt_datetimefield_value
    where, params = _ELIGIBLE_SQL, [TaskStatus.QUEUED, adapt(now())]
    if pinned_pk is None:
        where += ' AND "pinned_to_id" IS NULL AND "capability_key" = %s'
        params.append(capability_key)
    else:
        where += ' AND "pinned_to_id" = %s'
        params.append(pinned_pk)
    if leave_out:
        where += f' AND NOT ("submitted_by" IN ({", ".join(["%s"] * len(leave_out))}))'
        params.extend(leave_out)
    if leave_out_repos:
        where += f' AND NOT ("repo" IN ({", ".join(["%s"] * len(leave_out_repos))}))'
        params.extend(leave_out_repos)
    if after is not None:
        priority, created_at, task_id = after
        where += _AFTER_SQL
        created_at = adapt(created_at)
        params.extend([priority, priority, created_at, priority, created_at, task_id])
    order = '"priority", "created_at", "id"'
    return list(rows.values(Task, CANDIDATE_FIELDS, where, params, order=order, limit=size))


# A loose index scan over the task_capability_queue index: each step seeks the first
# key above the last one found, so it costs one index probe per distinct key, however
# many tasks are queued.
QUEUED_KEYS_SQL = """
    WITH RECURSIVE queued_keys(capability) AS (
        SELECT (SELECT MIN(capability_key) FROM {table} WHERE status = %s)
        UNION ALL
        SELECT (
            SELECT MIN(capability_key) FROM {table}
            WHERE status = %s AND capability_key > queued_keys.capability
        )
        FROM queued_keys WHERE queued_keys.capability IS NOT NULL
    )
    SELECT capability FROM queued_keys WHERE capability IS NOT NULL
"""


def any_queued() -> bool:
    """Is any task queued (eligible now or not)? A pass over an empty queue stops here,
    before it reads the idle agents: a large, idle fleet is the usual state."""
    return bool(list(rows.values(Task, ("id",), '"status" = %s', [TaskStatus.QUEUED], limit=1)))


def queued_capability_keys() -> list[str]:
    """The distinct capability keys of queued tasks (eligible now or not), in key order."""
    sql = QUEUED_KEYS_SQL.format(table=connection.ops.quote_name(Task._meta.db_table))
    return [key for (key,) in rows.fetch_all(sql, [TaskStatus.QUEUED, TaskStatus.QUEUED])]


# Agent ids one pinned-task query asks about: an idle fleet of tens of thousands would
# pass SQLite's variable limit in one IN list.
PINNED_ASKED_AT_ONCE = 500


def queued_pinned_agent_pks(agent_pks: list[int]) -> set[int]:
    """Which of these agents have queued tasks pinned to them (usually none).

    Plain SQL: every pass asks, and the answer is almost always empty. The IN list
    leads, so the planner probes the pinned_to index per agent; asked by status
    first, SQLite (no statistics) walked every queued task."""
    table = connection.ops.quote_name(Task._meta.db_table)
    found: set[int] = set()
    for start in range(0, len(agent_pks), PINNED_ASKED_AT_ONCE):
        some = agent_pks[start : start + PINNED_ASKED_AT_ONCE]
        slots = ", ".join(["%s"] * len(some))
        pinned = rows.fetch_all(
            f"SELECT DISTINCT pinned_to_id FROM {table} "
            f"WHERE pinned_to_id IN ({slots}) AND status = %s",
            [*some, TaskStatus.QUEUED],
        )
        found.update(pk for (pk,) in pinned)
    return found


def task_stats() -> dict:
    by_status = {status: 0 for status in TaskStatus.values}
    for row in Task.objects.values("status").annotate(n=Count("id")):
        by_status[row["status"]] = row["n"]
    by_priority = {str(p): 0 for p in Priority.values}
    queued = Task.objects.filter(status=TaskStatus.QUEUED)
    for row in queued.values("priority").annotate(n=Count("id")):
        by_priority[str(row["priority"])] = row["n"]
    return {
        "by_status": by_status,
        "by_priority": by_priority,
        "dead_letter": by_status[TaskStatus.DEAD_LETTER],
        "queued_index_size": eligible_queued().count(),
    }


# --- lists for people: the API's task list and the dashboard's -----------------------------


@dataclass(frozen=True)
class TaskFilter:
    """A validated task list filter; every field optional."""

    status: str | None = None
    priority: int | None = None
    holder: str | None = None
    submitted_by: str | None = None
    text: str | None = None  # part of the id or the title


def task_filter(
    *,
    status: str | None = None,
    priority: str | int | None = None,
    holder: str | None = None,
    submitted_by: str | None = None,
    text: str | None = None,
) -> TaskFilter:
    """Check raw filter values (query strings); raise validation_failed naming the field."""
    if status is not None and status not in TaskStatus.values:
        raise invalid("status", "invalid_value", f"unknown status {status!r}")
    level = None
    if priority is not None:
        try:
            level = parse_priority(
                int(priority) if str(priority).lstrip("-").isdigit() else priority
            )
        except ValueError as exc:
            raise invalid("priority", "invalid_value", str(exc)) from None
        if level not in Priority.values:
            raise invalid("priority", "out_of_range", "priority must be 0-3")
    return TaskFilter(status, level, holder or None, submitted_by or None, text or None)


def filtered_tasks(spec: TaskFilter) -> QuerySet[Task]:
    """Tasks matching spec, in queue order, with what a list row shows."""
    tasks = Task.objects.select_related("holder", "pinned_to")
    if spec.status is not None:
        tasks = tasks.filter(status=spec.status)
    if spec.priority is not None:
        tasks = tasks.filter(priority=spec.priority)
    if spec.holder is not None:
        tasks = tasks.filter(holder__agent_id=spec.holder)
    if spec.submitted_by is not None:
        tasks = tasks.filter(submitted_by=spec.submitted_by)
    if spec.text is not None:
        tasks = tasks.filter(Q(id__icontains=spec.text) | Q(title__icontains=spec.text))
    return queue_order(tasks)


def task_with_links(task_id: str) -> Task | None:
    """One task with its holder and pin, or None."""
    return Task.objects.select_related("holder", "pinned_to").filter(pk=task_id).first()


def dead_letters(limit: int) -> QuerySet[Task]:
    tasks = Task.objects.filter(status=TaskStatus.DEAD_LETTER).select_related("holder", "pinned_to")
    return queue_order(tasks)[:limit]


def dead_letter_count() -> int:
    return Task.objects.filter(status=TaskStatus.DEAD_LETTER).count()


def agent_tasks(agent_pk: int) -> QuerySet[Task]:
    """Tasks an agent holds or is pinned to, most recently changed first."""
    return Task.objects.filter(Q(holder_id=agent_pk) | Q(pinned_to_id=agent_pk)).order_by(
        "-updated_at"
    )


def agent_history(agent_id: str) -> QuerySet[TaskEvent]:
    """Audit rows naming the agent, newest first."""
    return TaskEvent.objects.filter(agent_id=agent_id).order_by("-created_at", "-pk")


def task_timeline(task: Task) -> QuerySet[TaskEvent]:
    """The task's audit rows, oldest first."""
    return task.events.order_by("seq")


def task_dependencies(task: Task) -> QuerySet:
    """(id, status) of each task this one waits for."""
    return task.depends_on.values_list("id", "status")
