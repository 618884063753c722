"""Reads the dashboard pages need beyond `tasks.selectors`: each one bounded query."""

from django.db.models import Count, Q, QuerySet

from agents.models import Agent
from tasks.figures import FAILURE_EVENTS
from tasks.models import HELD, Task, TaskEvent
from tasks.selectors import queue_order

# How a task list may be ordered: ?sort=<key>.
TASK_SORTS = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "finished": ("-completed_at", "-id"),
}
DEFAULT_SORT = "newest"
SORT_LABELS = {
    "newest": "newest first",
    "oldest": "oldest first",
    "queue": "queue order (priority, then age)",
    "finished": "recently finished first",
}
CAPABILITIES_SUGGESTED = 200
AGENTS_READ_FOR_SUGGESTIONS = 1000


def sorted_tasks(tasks: QuerySet[Task], sort: str) -> QuerySet[Task]:
    if sort == "queue":
        return queue_order(tasks)
    return tasks.order_by(*TASK_SORTS.get(sort, TASK_SORTS[DEFAULT_SORT]))


def outcomes_by_agent() -> dict[str, dict[str, int]]:
    """Per agent id: tasks it completed and attempts it failed, all time (one query)."""
    rows = (
        TaskEvent.objects.filter(event__in=("completed", *FAILURE_EVENTS))
        .exclude(agent_id="")
        .values("agent_id")
        .annotate(
            completed=Count("pk", filter=Q(event="completed")),
            failed=Count("pk", filter=Q(event__in=FAILURE_EVENTS)),
        )
        .order_by()
    )
    return {
        row["agent_id"]: {"completed": row["completed"], "failed": row["failed"]} for row in rows
    }


def held_titles() -> dict[int, tuple[str, str]]:
    """Holder pk -> (task id, title) of every held task (one query)."""
    return {
        holder: (task_id, title)
        for holder, task_id, title in Task.objects.filter(status__in=HELD).values_list(
            "holder_id", "id", "title"
        )
    }


def declared_capabilities() -> list[str]:
    """The capabilities agents have declared, sorted, for the task form's suggestions."""
    seen: set[str] = set()
    lists = Agent.objects.order_by("-last_seen").values_list("capabilities", flat=True)
    for capabilities in lists[:AGENTS_READ_FOR_SUGGESTIONS]:
        for capability in capabilities if isinstance(capabilities, list) else []:
            name = capability.get("name") if isinstance(capability, dict) else capability
            if isinstance(name, str) and name:
                seen.add(name[:64])
    return sorted(seen)[:CAPABILITIES_SUGGESTED]
