"""Health conditions of the hub (PROTOCOL.md §4.7).

Each check is a small pure function over figures the snapshot has already read, so the
rules can be tested without building a database state, and reading health costs no
query of its own beyond the two below.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q

from tasks.models import HELD, Task, TaskEvent, TaskStatus

WARNING = "warning"
CRITICAL = "critical"
FAILURE_EVENTS = ("retry", "dead_letter")
# An agent that went offline this recently is still expected back: operators should know.
OFFLINE_NOTICE = timedelta(hours=1)
STUCK_IDS_SHOWN = 10
# A queue this much longer than ten minutes ago, and never shorter in between, is growing.
GROWTH_NOTICE = 3


@dataclass(frozen=True)
class Condition:
    level: str  # WARNING or CRITICAL
    text: str


def agents_offline(agent_ids: list[str]) -> list[Condition]:
    return [Condition(WARNING, f"Agent offline: {agent_id}") for agent_id in agent_ids]


def queue_growing(samples: list[int]) -> Condition | None:
    """Three per-minute queue depths, oldest first, each higher than the one before."""
    if len(samples) < 3:
        return None
    last = samples[-3:]
    if last[0] < last[1] < last[2]:
        return Condition(WARNING, "Queue growing: " + " -> ".join(str(n) for n in last))
    return None


def queue_growing_steadily(depths: list[int], minutes_per_step: int = 5) -> Condition | None:
    """Queue depth at the end of each of the last three chart buckets never fell and
    rose by at least GROWTH_NOTICE: work arrives faster than agents take it."""
    if len(depths) < 3:
        return None
    last = depths[-3:]
    if last[0] <= last[1] <= last[2] and last[2] - last[0] >= GROWTH_NOTICE:
        span = minutes_per_step * 2
        trail = " -> ".join(str(n) for n in last)
        return Condition(WARNING, f"Queue growing: {trail} queued over {span} min")
    return None


def high_failure_rate(failed: int, finished: int) -> Condition | None:
    """More than half of the tasks that finished an attempt this hour failed it."""
    if finished > 0 and failed * 2 > finished:
        return Condition(CRITICAL, f"High failure rate: {failed}/{finished} tasks failed this hour")
    return None


def stuck_tasks(task_ids: list[str]) -> Condition | None:
    if not task_ids:
        return None
    shown = ", ".join(task_ids[:STUCK_IDS_SHOWN])
    more = ", ..." if len(task_ids) > STUCK_IDS_SHOWN else ""
    return Condition(WARNING, f"Stuck tasks: {shown}{more}")


def dispatch_paused(dispatch: dict[str, Any]) -> Condition | None:
    """An operator paused dispatch (flow control): queued work waits until a resume."""
    if dispatch["paused"]:
        return Condition(WARNING, "Dispatch paused")
    if dispatch["paused_capabilities"]:
        return Condition(
            WARNING, "Dispatch paused for: " + ", ".join(dispatch["paused_capabilities"][:10])
        )
    return None


def summary(conditions: list[Condition | None]) -> dict[str, Any]:
    """`health{status, conditions}`; `items` adds each condition's level for the pages."""
    found = [c for c in conditions if c is not None]
    if any(c.level == CRITICAL for c in found):
        status = CRITICAL
    elif found:
        status = WARNING
    else:
        status = "ok"
    return {
        "status": status,
        "conditions": [c.text for c in found],
        "items": [{"level": c.level, "text": c.text} for c in found],
    }


# --- the two reads health needs beyond the snapshot's own ----------------------------


def failures_this_hour(moment: datetime) -> tuple[int, int]:
    """(tasks with a counted failure, tasks that completed or failed) in the last hour."""
    finished_events = (*FAILURE_EVENTS, "completed")
    counts = TaskEvent.objects.filter(
        created_at__gte=moment - timedelta(hours=1), event__in=finished_events
    ).aggregate(
        failed=Count("task", distinct=True, filter=Q(event__in=FAILURE_EVENTS)),
        finished=Count("task", distinct=True),
    )
    return counts["failed"], counts["finished"]


def stuck_task_ids(moment: datetime) -> list[str]:
    """Held tasks silent longer than the stuck timer.

    The sweep reclaims such tasks while their holder is online, so anything listed here
    is a task whose holder is gone or a sweep that is not running: both need a person.
    """
    cutoff = moment - timedelta(seconds=settings.AGENTCOM_STUCK_AFTER_S)
    # A task waiting for an operator's answer is not stuck: its question has an alert.
    rows = (
        Task.objects.filter(status__in=HELD, last_activity_at__lt=cutoff)
        .exclude(status=TaskStatus.INPUT_REQUIRED)
        .order_by("last_activity_at")
    )
    return list(rows.values_list("id", flat=True)[: STUCK_IDS_SHOWN + 1])
