"""Read-side queries over tasks: queue order, filters and counts."""

from django.db import connection
from django.db.models import Count, Q, QuerySet

from agentcom_site.core.clock import now
from tasks.models import Priority, Task, TaskStatus

S = TaskStatus


def queue_order(queryset: QuerySet[Task]) -> QuerySet[Task]:
    """Priority lane first, then age (FIFO inside a lane)."""
    return queryset.order_by("priority", "created_at", "id")


def eligible_queued() -> QuerySet[Task]:
    """Queued tasks the scheduler may hand out now: dependencies done, deadline not passed."""
    moment = now()
    return queue_order(
        Task.objects.filter(status=S.QUEUED, waiting_on=0).filter(
            Q(complete_by__isnull=True) | Q(complete_by__gt=moment)
        )
    )


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


def queued_capability_keys() -> list[str]:
    """The distinct capability keys of queued tasks (eligible now or not), in key order."""
    sql = QUEUED_KEYS_SQL.format(table=connection.ops.quote_name(Task._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(sql, [S.QUEUED, S.QUEUED])
        return [key for (key,) in cursor.fetchall()]


def queued_pinned_agent_pks(agent_pks: list[int]) -> set[int]:
    """Which of these agents have queued tasks pinned to them (usually none).

    Plain SQL: every pass asks, and the answer is almost always empty. The IN list
    leads, so the planner probes the pinned_to index per agent; asked by status
    first, SQLite (no statistics) walked every queued task."""
    if not agent_pks:
        return set()
    table = connection.ops.quote_name(Task._meta.db_table)
    slots = ", ".join(["%s"] * len(agent_pks))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT pinned_to_id FROM {table} "
            f"WHERE pinned_to_id IN ({slots}) AND status = %s",
            [*agent_pks, S.QUEUED],
        )
        return {pk for (pk,) in cursor.fetchall()}


def task_stats() -> dict:
    by_status = {status: 0 for status in S.values}
    for row in Task.objects.values("status").annotate(n=Count("id")):
        by_status[row["status"]] = row["n"]
    by_priority = {str(p): 0 for p in Priority.values}
    queued = Task.objects.filter(status=S.QUEUED)
    for row in queued.values("priority").annotate(n=Count("id")):
        by_priority[str(row["priority"])] = row["n"]
    return {
        "by_status": by_status,
        "by_priority": by_priority,
        "dead_letter": by_status[S.DEAD_LETTER],
        "queued_index_size": eligible_queued().count(),
    }
