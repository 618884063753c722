"""The figures the dashboard charts and /metrics both read (dashboard_figures)."""

from datetime import timedelta

import pytest

from agentcom_site.operations.metrics import dashboard_figures
from tasks import queue
from tasks.models import Task, TaskEvent
from tests.conftest import assign

pytestmark = pytest.mark.django_db


def test_an_empty_hour(db):
    figures = dashboard_figures()
    assert figures["completed_last_hour"] == 0 and figures["dispatch_latency_p50_s"] is None
    assert len(figures["per_minute"]) == 60


def test_completions_failures_and_dispatch_latency_of_the_last_hour(submit, make_agent):
    agent = make_agent("worker", online=True)
    done = []
    for _ in range(3):
        task = submit()
        Task.objects.filter(pk=task.pk).update(created_at=task.created_at - timedelta(seconds=4))
        queued = TaskEvent.objects.filter(task=task, event="queued")
        queued.update(created_at=task.created_at - timedelta(seconds=4))
        assign(task.id, agent)
        queue.accept_task(task.id, agent, 1)
        queue.complete_task(task.id, agent, 1, result={})
        done.append(task.id)
    failing = submit(max_retries=1)
    assign(failing.id, agent)
    queue.fail_task(failing.id, agent, 1, error="boom")

    figures = dashboard_figures()

    assert figures["completed_last_hour"] == 3
    assert figures["failed_last_hour"] == 1
    assert sum(m["completed"] for m in figures["per_minute"]) == 3
    assert figures["per_minute"][-1]["completed"] == 3
    assert 4 <= figures["dispatch_latency_p50_s"] < 60
    assert figures["dispatched_last_hour"] == 4
    assert TaskEvent.objects.filter(event="dead_letter").count() == 1
