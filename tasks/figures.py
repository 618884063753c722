"""Task figures over time: throughput, failures and dispatch latency, per bucket.

One home for these numbers, read from the `TaskEvent` trail, so the overview's chart,
its last-hour figures and `/metrics` report the same figures. One query per call,
bounded by the window and by `EVENTS_READ`, whatever the number of tasks.

Dispatch latency is the time from the moment a task (re)entered `queued` to its
`assigned` event: how long work waited for an agent.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import OuterRef, Subquery

from agentcom_site.core.clock import to_ms
from tasks.models import TaskEvent, TaskStatus

FAILURE_EVENTS = ("retry", "dead_letter")
SERIES_EVENTS = ("assigned", "completed", *FAILURE_EVENTS)
# A busier window than this is summarised from its latest events only.
EVENTS_READ = 20_000


@dataclass(frozen=True)
class Bucket:
    start_ms: int
    completed: int
    failed: int
    latency_p50_ms: int | None
    latency_p95_ms: int | None

    def as_dict(self) -> dict:
        return {
            "t": self.start_ms,
            "completed": self.completed,
            "failed": self.failed,
            "p50_ms": self.latency_p50_ms,
            "p95_ms": self.latency_p95_ms,
        }


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile of values (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def bucket_starts(moment: datetime, width: timedelta, count: int) -> list[datetime]:
    """Starts of `count` buckets of `width`, aligned to the clock, the last holding moment."""
    step = int(width.total_seconds())
    epoch = int(moment.timestamp())
    last = moment - timedelta(seconds=epoch % step, microseconds=moment.microsecond)
    return [last - width * i for i in range(count - 1, -1, -1)]


def _events_since(since: datetime) -> list[tuple[str, datetime, datetime | None]]:
    """(event, when, when its task last entered `queued` before it), newest first."""
    entered_queue = (
        TaskEvent.objects.filter(
            task=OuterRef("task"), seq__lt=OuterRef("seq"), to_status=TaskStatus.QUEUED
        )
        .order_by("-seq")
        .values("created_at")[:1]
    )
    return list(
        TaskEvent.objects.filter(created_at__gte=since, event__in=SERIES_EVENTS)
        .annotate(queued_at=Subquery(entered_queue))
        .order_by("-created_at")
        .values_list("event", "created_at", "queued_at")[:EVENTS_READ]
    )


def _wait_ms(created_at: datetime, queued_at: datetime) -> int:
    return max(0, to_ms(created_at) - to_ms(queued_at))


def task_series(moment: datetime, width: timedelta, count: int) -> list[Bucket]:
    """Per bucket, oldest first: completions, failed attempts, dispatch latency p50/p95."""
    starts = bucket_starts(moment, width, count)
    width_ms = int(width.total_seconds() * 1000)
    first_ms = to_ms(starts[0])
    completed = [0] * count
    failed = [0] * count
    waits: list[list[float]] = [[] for _ in range(count)]
    for event, created_at, queued_at in _events_since(starts[0]):
        index = min(count - 1, (to_ms(created_at) - first_ms) // width_ms)
        if event == "completed":
            completed[index] += 1
        elif event in FAILURE_EVENTS:
            failed[index] += 1
        elif queued_at is not None:
            waits[index].append(_wait_ms(created_at, queued_at))
    return [
        Bucket(
            start_ms=to_ms(start),
            completed=completed[i],
            failed=failed[i],
            latency_p50_ms=_whole(percentile(waits[i], 0.5)),
            latency_p95_ms=_whole(percentile(waits[i], 0.95)),
        )
        for i, start in enumerate(starts)
    ]


@dataclass(frozen=True)
class Window:
    completed: int
    failed: int
    dispatched: int
    latency_p50_ms: int | None
    latency_p95_ms: int | None


def window_figures(moment: datetime, window: timedelta) -> Window:
    """The same figures over the whole window ending at `moment` (one query)."""
    completed = failed = 0
    waits: list[float] = []
    for event, created_at, queued_at in _events_since(moment - window):
        if event == "completed":
            completed += 1
        elif event in FAILURE_EVENTS:
            failed += 1
        elif queued_at is not None:
            waits.append(_wait_ms(created_at, queued_at))
    return Window(
        completed=completed,
        failed=failed,
        dispatched=len(waits),
        latency_p50_ms=_whole(percentile(waits, 0.5)),
        latency_p95_ms=_whole(percentile(waits, 0.95)),
    )


def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)
