"""Health conditions: the rules themselves, then each one raised by a real hub state."""

from datetime import timedelta

import pytest
from django.test import override_settings

from agentcom_site.core.clock import now
from agentcom_site.dashboard import health
from agentcom_site.dashboard.state import dashboard_state
from agents import presence
from tasks import queue
from tasks.models import Task, TaskEvent


def test_queue_growing_needs_three_rising_samples():
    assert health.queue_growing([1, 2, 3]).text == "Queue growing: 1 -> 2 -> 3"
    assert health.queue_growing([1, 2, 2]) is None
    assert health.queue_growing([3, 2, 1]) is None
    assert health.queue_growing([2, 3]) is None


def test_failure_rate_is_critical_over_half():
    assert health.high_failure_rate(3, 5).level == health.CRITICAL
    assert health.high_failure_rate(3, 5).text == "High failure rate: 3/5 tasks failed this hour"
    assert health.high_failure_rate(1, 2) is None  # exactly half is not over half
    assert health.high_failure_rate(0, 0) is None


def test_summary_takes_the_worst_level():
    warning = health.Condition(health.WARNING, "Agent offline: a")
    critical = health.Condition(health.CRITICAL, "High failure rate: 2/2 tasks failed this hour")
    assert health.summary([]) == {"status": "ok", "conditions": [], "items": []}
    assert health.summary([warning, None])["status"] == "warning"
    both = health.summary([warning, critical])
    assert both["status"] == "critical"
    assert both["conditions"] == [warning.text, critical.text]


@pytest.mark.django_db
def test_an_agent_that_dropped_is_reported_offline(make_agent):
    agent = make_agent("gone-1", online=True)
    make_agent("never-seen")  # registered but never connected: nothing to report
    agent.refresh_from_db()
    agent.connected_at = now()
    agent.save()
    presence.disconnect(agent.pk, channel_name=agent.channel_name)
    state = dashboard_state()
    assert state["health"]["status"] == "warning"
    assert state["health"]["conditions"] == ["Agent offline: gone-1"]


@pytest.mark.django_db
def test_a_growing_queue_is_a_warning(submit, monkeypatch):
    moment = now()
    monkeypatch.setattr("agentcom_site.dashboard.state.now", lambda: moment)
    first = [submit("a")]
    second = [submit("b"), submit("c")]
    third = [submit("d"), submit("e"), submit("f")]
    # One task arrived two minutes ago, two more last minute, three now.
    TaskEvent.objects.filter(task__in=first).update(created_at=moment - timedelta(minutes=2))
    TaskEvent.objects.filter(task__in=second).update(created_at=moment - timedelta(minutes=1))
    this_minute = moment.replace(second=0, microsecond=0)
    TaskEvent.objects.filter(task__in=third).update(created_at=this_minute)
    conditions = dashboard_state()["health"]["conditions"]
    assert "Queue growing: 1 -> 3 -> 6" in conditions


@pytest.mark.django_db
def test_failures_over_half_this_hour_are_critical(make_agent, submit):
    agent = make_agent("flaky", online=True)
    for index in range(3):
        task = submit(f"t{index}", max_retries=1)
        queue.assign_task(task.id, agent.pk)
        agent.refresh_from_db()
        if index == 0:
            queue.complete_task(task.id, agent, 1, result={})
        else:
            queue.fail_task(task.id, agent, 1, error="boom")
        agent.refresh_from_db()
    state = dashboard_state()
    assert state["health"]["status"] == "critical"
    assert "High failure rate: 2/3 tasks failed this hour" in state["health"]["conditions"]


@pytest.mark.django_db
@override_settings(AGENTCOM_STUCK_AFTER_S=60)
def test_held_tasks_silent_past_the_stuck_timer_are_listed(assigned):
    stuck, _ = assigned("slow-1")
    fresh, _ = assigned("quick-1")
    Task.objects.filter(pk=stuck.pk).update(last_activity_at=now() - timedelta(seconds=120))
    conditions = dashboard_state()["health"]["conditions"]
    assert f"Stuck tasks: {stuck.id}" in conditions
    assert not any(fresh.id in c for c in conditions)
