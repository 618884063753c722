"""Matching rules of a scheduling pass, and each timer of the sweep."""

from datetime import timedelta

import pytest

from agentcom_site.core.clock import now
from agents.models import Agent
from tasks import queue, scheduler
from tasks.models import Task, TaskEvent
from tasks.scheduler import schedule_pass
from tasks.sweep import sweep_once
from tests.conftest import bring_online

pytestmark = pytest.mark.django_db


def holder_of(task: Task) -> str | None:
    task.refresh_from_db()
    return task.holder.agent_id if task.holder_id else None


def test_capabilities_must_be_a_subset(make_agent, submit):
    make_agent("plain", online=True)
    make_agent("pythonista", capabilities=["code", "python"], online=True)
    task = submit(needed_capabilities=["python"])
    assert schedule_pass() == 1
    assert holder_of(task) == "pythonista"


def test_longest_idle_agent_goes_first(make_agent, submit):
    newer = make_agent("newer", online=True)
    older = make_agent("older", online=True)
    Agent.objects.filter(pk=older.pk).update(idle_since=now() - timedelta(minutes=5))
    Agent.objects.filter(pk=newer.pk).update(idle_since=now() - timedelta(minutes=1))
    task = submit()
    schedule_pass()
    assert holder_of(task) == "older"


def test_one_task_per_agent_in_priority_order(make_agent, submit):
    make_agent("only", online=True)
    low = submit("low", priority=3)
    urgent = submit("urgent", priority=0)
    assert schedule_pass() == 1
    assert holder_of(urgent) == "only" and holder_of(low) is None


def test_rejecter_is_skipped_while_another_capable_agent_is_connected(make_agent, submit, settings):
    settings.AGENTCOM_REJECT_BACKOFF_S = 0  # the lapse itself, not the backoff
    picky = make_agent("picky", online=True)
    task = submit()
    queue.assign_task(task.id, picky.pk)
    queue.reject_task(task.id, picky, None, reason="no")
    other = make_agent("other", online=True)
    queue.assign_task(submit("keeps other busy").id, other.pk)
    assert schedule_pass() == 0  # picky is idle, but 'other' could take it later
    assert holder_of(task) is None
    other.delete()
    assert schedule_pass() == 1  # every connected capable agent has refused: the exclusion lapses
    assert holder_of(task) == "picky"


def test_offline_busy_and_blocked_agents_get_nothing(make_agent, submit):
    make_agent("offline")
    busy = make_agent("busy", online=True)
    Agent.objects.filter(pk=busy.pk).update(busy=True)
    submit()
    assert schedule_pass() == 0


def test_dependencies_and_deadlines_keep_tasks_back(make_agent, submit):
    make_agent("a", online=True)
    make_agent("b", online=True)
    parent = submit("parent", priority=3)
    child = submit("child", priority=0, depends_on=[parent.id])
    submit("late", priority=0, complete_by=now() - timedelta(seconds=1))
    assert schedule_pass() == 1
    assert holder_of(parent) is not None and holder_of(child) is None


def test_a_pass_reads_only_fitting_tasks(make_agent, submit, django_assert_max_num_queries):
    make_agent("py", capabilities=["python"], online=True)
    for _ in range(50):
        submit("needs rust", needed_capabilities=["rust"])
    wanted = submit("needs python", needed_capabilities=["python"], priority=3)
    with django_assert_max_num_queries(30):
        assert schedule_pass() == 1
    assert holder_of(wanted) == "py"


def _age(task: Task, seconds: float, field: str = "last_activity_at") -> None:
    Task.objects.filter(pk=task.pk).update(**{field: now() - timedelta(seconds=seconds)})


def test_acceptance_timeout_reclaims_and_flags(assigned, settings):
    settings.AGENTCOM_ACCEPT_TIMEOUT_S = 60
    task, agent = assigned()
    _age(task, 61)
    report = sweep_once()
    assert report.acceptance_timeouts == [task.id]
    task.refresh_from_db()
    agent.refresh_from_db()
    assert task.status == "queued" and agent.unresponsive and agent.state == "idle"
    assert TaskEvent.objects.filter(task=task).last().reason == "acceptance_timeout"


def test_stuck_working_task_is_reclaimed_without_a_retry(assigned, settings):
    task, agent = assigned()
    queue.accept_task(task.id, agent)
    _age(task, settings.AGENTCOM_STUCK_AFTER_S + 1)
    assert sweep_once().stuck == [task.id]
    task.refresh_from_db()
    assert task.status == "queued" and task.retry_count == 0


def test_a_stuck_task_goes_to_another_agent_not_back_to_the_silent_one(
    assigned, make_agent, settings
):
    task, silent = assigned("silent", needed_capabilities=["code"])
    queue.accept_task(task.id, silent)
    make_agent("alert", capabilities=["code"], online=True)
    _age(task, settings.AGENTCOM_STUCK_AFTER_S + 1)
    assert sweep_once().stuck == [task.id]

    # The reclaim announces the silent holder idle first: feeding it must not hand the
    # task straight back; the next pass gives it to the other agent.
    assert not scheduler.feed_agent("silent")
    assert schedule_pass() == 1

    task.refresh_from_db()
    assert task.holder.agent_id == "alert"
    assert task.rejected_by == ["silent"]


def test_recent_activity_keeps_a_task(assigned):
    task, agent = assigned()
    queue.accept_task(task.id, agent)
    report = sweep_once()
    assert not report.stuck and not report.acceptance_timeouts


def test_deadline_is_a_counted_failure_while_held_and_dead_letters_when_queued(assigned, submit):
    task, _ = assigned(max_retries=3)
    _age(task, 1, "complete_by")
    queued = submit()
    _age(queued, 1, "complete_by")
    report = sweep_once()
    assert report.deadlines == [task.id]
    # the retried task is still past its deadline, so it cannot run again either
    assert sorted(report.expired_queued) == sorted([task.id, queued.id])
    task.refresh_from_db()
    queued.refresh_from_db()
    assert task.retry_count == 1 and task.status == "dead_letter"
    events = list(TaskEvent.objects.filter(task=task).values_list("event", "reason"))
    assert events[-2:] == [("retry", "deadline_exceeded"), ("dead_letter", "deadline_exceeded")]
    assert queued.status == "dead_letter" and queued.last_error == "deadline_exceeded"


def test_reconnect_grace_starts_for_offline_holders_and_expires(assigned, settings):
    settings.AGENTCOM_RECONNECT_GRACE_S = 60
    task, agent = assigned()
    agent.go_offline()
    agent.save()
    assert sweep_once().grace_started == 1
    task.refresh_from_db()
    assert task.holder_lost_at is not None and task.status == "assigned"
    _age(task, 61, "holder_lost_at")
    assert sweep_once().grace_expired == [task.id]
    task.refresh_from_db()
    assert task.status == "queued"


def test_offline_holder_timers_pause(assigned, settings):
    task, agent = assigned()
    agent.go_offline()
    agent.save()
    _age(task, settings.AGENTCOM_ACCEPT_TIMEOUT_S + 5)
    sweep_once()  # starts the grace; the acceptance timer is paused while offline
    report = sweep_once()
    assert report.acceptance_timeouts == []


def test_silent_agents_go_offline(make_agent, settings):
    agent = make_agent("ghost", online=True)
    Agent.objects.filter(pk=agent.pk).update(
        last_seen=now() - timedelta(seconds=4 * settings.AGENTCOM_PING_TTL_S)
    )
    assert sweep_once().silent_agents == ["ghost"]
    agent.refresh_from_db()
    assert agent.state == "offline"


def test_busy_flag_lapses(make_agent, settings):
    agent = make_agent("tired", online=True)
    Agent.objects.filter(pk=agent.pk).update(
        busy=True, busy_since=now() - timedelta(seconds=settings.AGENTCOM_STUCK_AFTER_S + 1)
    )
    assert sweep_once().busy_cleared == 1
    agent.refresh_from_db()
    assert not agent.busy
    bring_online(agent)


def test_placement_happens_on_commit_only_where_pushes_can_reach_agents(
    make_agent, submit, monkeypatch, django_capture_on_commit_callbacks
):
    from agentcom_site.core import transport

    make_agent("ready", online=True)
    monkeypatch.setattr(transport, "delivers_from_here", lambda: False)
    with django_capture_on_commit_callbacks(execute=True):
        stranded = submit("from a command on the in-memory layer")
    assert holder_of(stranded) is None  # it would be assigned with nobody told
    monkeypatch.setattr(transport, "delivers_from_here", lambda: True)
    with django_capture_on_commit_callbacks(execute=True):
        placed = submit("from the hub process")
    assert holder_of(placed) == "ready"
