"""Task figures over time: the numbers the overview's charts draw."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agentcom_site.core.clock import now
from agentcom_site.dashboard import health
from agentcom_site.dashboard.state import dashboard_state
from tasks import figures, queue
from tasks.models import TaskEvent

pytestmark = pytest.mark.django_db

BUCKET = timedelta(minutes=5)


def test_percentile_is_nearest_rank():
    assert figures.percentile([], 0.5) is None
    assert figures.percentile([7], 0.95) == 7
    assert figures.percentile([4, 1, 3, 2], 0.5) == 2
    assert figures.percentile(list(range(1, 101)), 0.95) == 95


def test_series_counts_completions_failures_and_dispatch_latency(assigned, make_agent):
    task, agent = assigned("fig-1")
    assigned_event = TaskEvent.objects.get(task=task, event="assigned")
    # The task waited 4 s in the queue before it was assigned.
    TaskEvent.objects.filter(task=task, seq__lt=assigned_event.seq).update(
        created_at=assigned_event.created_at - timedelta(seconds=4)
    )
    queue.complete_task(task.id, agent, task.generation, result={})
    doomed, holder = assigned("fig-2", max_retries=0)
    queue.fail_task(doomed.id, holder, doomed.generation, error="nope")

    with CaptureQueriesContext(connection) as queries:
        series = figures.task_series(now(), BUCKET, 36)
    assert len(queries) == 1
    assert len(series) == 36
    last = series[-1]
    assert (last.completed, last.failed) == (1, 1)
    assert last.latency_p95_ms >= 4000
    assert all(b.completed == 0 and b.latency_p50_ms is None for b in series[:-1])
    assert dashboard_state()["series"]["points"][-1]["completed"] == 1


def test_a_queue_rising_over_ten_minutes_is_growing():
    assert health.queue_growing_steadily([0, 1, 2]) is None  # rose by less than the notice
    assert health.queue_growing_steadily([2, 1, 6]) is None  # it fell in between
    grown = health.queue_growing_steadily([5, 1, 4, 4, 7])
    assert grown.text == "Queue growing: 4 -> 4 -> 7 queued over 10 min"
    assert grown.level == health.WARNING


def test_recent_events_carry_titles(submit):
    submit("x", title="Named work")
    (event,) = dashboard_state()["recent_events"]
    assert event["title"] == "Named work" and event["event"] == "queued"


def test_health_says_queue_growing_when_work_piles_up(submit):
    old = submit("waiting since long")
    TaskEvent.objects.filter(task=old).update(created_at=now() - timedelta(minutes=30))
    for n in range(3):
        submit(f"new {n}")
    conditions = dashboard_state()["health"]["conditions"]
    assert any(text.startswith("Queue growing") for text in conditions), conditions
