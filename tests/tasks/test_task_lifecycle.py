"""Task operations: every transition allowed and refused, with its audit row."""

from datetime import timedelta

import pytest
from django_fsm import TransitionNotAllowed

from agentcom_site.core.clock import now
from agentcom_site.core.errors import HubError, ValidationFailed
from agents.models import AgentState
from tasks import queue
from tasks.models import Task, TaskEvent, TaskStatus
from tasks.selectors import eligible_queued

S = TaskStatus
pytestmark = pytest.mark.django_db


def events(task: Task) -> list[str]:
    return list(TaskEvent.objects.filter(task=task).order_by("seq").values_list("event", flat=True))


def test_submit_queues_with_generation_zero_and_an_audit_row(submit):
    task = submit("Fix the flaky login test\nmore detail", priority=1)
    assert task.id.startswith("task-") and len(task.id) == 21
    assert task.status == S.QUEUED and task.generation == 0
    assert task.title == "Fix the flaky login test"
    assert events(task) == ["queued"]


def test_title_defaults_to_first_non_blank_line_cut_to_80(submit):
    task = submit("\n\n   " + "x" * 100)
    assert task.title == "x" * 80


def test_status_field_is_protected(submit):
    task = submit()
    with pytest.raises(AttributeError):
        task.status = S.COMPLETED


def test_assign_claims_task_and_agent_together(assigned):
    task, agent = assigned()
    assert task.status == S.ASSIGNED and task.holder == agent and task.generation == 1
    assert agent.state == AgentState.ASSIGNED
    assert events(task) == ["queued", "assigned"]


def test_assign_refuses_a_busy_or_offline_agent(make_agent, submit):
    offline = make_agent("offline")
    task = submit()
    with pytest.raises(queue.ClaimLost, match="the agent is taken"):
        queue.assign_task(task.id, offline.pk)
    busy_agent = make_agent("busy", online=True)
    first = submit()
    queue.assign_task(first.id, busy_agent.pk)
    with pytest.raises(queue.ClaimLost, match="the agent is taken"):
        queue.assign_task(task.id, busy_agent.pk)
    with pytest.raises(queue.ClaimLost, match="the task is taken"):
        queue.assign_task(first.id, make_agent("idle", online=True).pk)
    task.refresh_from_db()
    assert task.status == S.QUEUED and task.generation == 0 and events(task) == ["queued"]


def test_accept_moves_to_working_and_repeat_is_harmless(assigned):
    task, agent = assigned()
    queue.accept_task(task.id, agent)
    queue.accept_task(task.id, agent, task.generation)
    task.refresh_from_db()
    agent.refresh_from_db()
    assert task.status == S.WORKING and agent.state == AgentState.WORKING
    assert events(task) == ["queued", "assigned", "accepted"]


def test_complete_records_result_and_tokens_fallback(assigned):
    task, agent = assigned()
    queue.complete_task(
        task.id, agent, task.generation, result={"status": "success", "tokens_used": 7}
    )
    task.refresh_from_db()
    agent.refresh_from_db()
    assert task.status == S.COMPLETED and task.tokens_used == 7 and task.completed_at
    assert agent.state == AgentState.IDLE
    assert events(task)[-1] == "completed"


def test_complete_twice_is_refused_and_changes_nothing(assigned):
    task, agent = assigned()
    queue.complete_task(task.id, agent, task.generation, result={})
    with pytest.raises(queue.TaskRefused) as refused:
        queue.complete_task(task.id, agent, task.generation, result={"again": True})
    assert refused.value.code == "task_complete_failed: invalid_state"
    task.refresh_from_db()
    assert task.result == {} and events(task).count("completed") == 1


@pytest.mark.parametrize(
    ("max_retries", "outcomes"),
    [
        (3, [S.QUEUED, S.QUEUED, S.DEAD_LETTER]),
        (1, [S.DEAD_LETTER]),
        (0, [S.DEAD_LETTER]),
    ],
)
def test_failure_arithmetic_retries_then_dead_letters(make_agent, submit, max_retries, outcomes):
    agent = make_agent(online=True)
    task = submit(max_retries=max_retries)
    for attempt, expected in enumerate(outcomes, start=1):
        queue.assign_task(task.id, agent.pk)
        task.refresh_from_db()
        generation = task.generation
        queue.fail_task(task.id, agent, generation, error=f"boom {attempt}")
        task.refresh_from_db()
        assert task.status == expected
        assert task.retry_count == attempt
        assert task.last_error == f"boom {attempt}"
        # a return to the queue bumps the generation; the dead letter does not
        assert task.generation == generation + (1 if expected == S.QUEUED else 0)
    assert events(task)[-1] == "dead_letter"


def test_stale_generation_is_refused(assigned):
    task, agent = assigned()
    with pytest.raises(queue.TaskRefused) as refused:
        queue.complete_task(task.id, agent, task.generation + 5, result={})
    assert refused.value.code == "task_complete_failed: stale_generation"
    task.refresh_from_db()
    assert task.status == S.ASSIGNED


def test_another_agents_update_is_refused(assigned, make_agent):
    task, _ = assigned()
    intruder = make_agent("intruder", online=True)
    for verb, call in [
        ("accept", lambda: queue.accept_task(task.id, intruder)),
        ("progress", lambda: queue.record_progress(task.id, intruder)),
        ("complete", lambda: queue.complete_task(task.id, intruder, task.generation, result={})),
        ("fail", lambda: queue.fail_task(task.id, intruder, task.generation, error="x")),
        ("reject", lambda: queue.reject_task(task.id, intruder, None, reason="x")),
    ]:
        with pytest.raises(queue.TaskRefused) as refused:
            call()
        assert refused.value.code == f"task_{verb}_failed: not_assignee"
    task.refresh_from_db()
    assert task.status == S.ASSIGNED and events(task) == ["queued", "assigned"]


def test_unknown_task_is_not_found(make_agent):
    agent = make_agent(online=True)
    with pytest.raises(queue.TaskRefused) as refused:
        queue.accept_task("task-0000000000000000", agent)
    assert refused.value.reason == "not_found"


def test_reject_requeues_without_a_retry_and_flags_busy(assigned):
    task, agent = assigned()
    queue.reject_task(task.id, agent, None, reason="busy")
    task.refresh_from_db()
    agent.refresh_from_db()
    assert task.status == S.QUEUED and task.retry_count == 0 and task.generation == 2
    assert task.rejected_by == [agent.agent_id]
    assert agent.state == AgentState.IDLE and agent.busy


def test_reject_after_accept_is_invalid_state(assigned):
    task, agent = assigned()
    queue.accept_task(task.id, agent)
    with pytest.raises(queue.TaskRefused) as refused:
        queue.reject_task(task.id, agent, None, reason="nope")
    assert refused.value.reason == "invalid_state"


def test_reclaim_requeues_and_frees_the_agent(assigned):
    task, agent = assigned()
    queue.reclaim_task(task.id, reason="stuck")
    task.refresh_from_db()
    agent.refresh_from_db()
    assert task.status == S.QUEUED and task.generation == 2 and task.holder is None
    assert agent.state == AgentState.IDLE
    assert events(task)[-1] == "reclaimed"
    with pytest.raises(queue.TaskRefused, match=r"cannot reclaim .*: invalid state"):
        queue.reclaim_task(task.id, reason="again")
    queue.assign_task(task.id, agent.pk)  # generation 3
    with pytest.raises(queue.TaskRefused, match="stale generation"):
        queue.reclaim_task(task.id, reason="old", expected_generation=2)


def test_cancel_from_each_open_state_and_refusal_when_final(submit, assigned):
    queued = submit()
    queue.cancel_task(queued.id, actor="operator:ops")
    held, agent = assigned()
    queue.cancel_task(held.id, actor="operator:ops")
    agent.refresh_from_db()
    assert agent.state == AgentState.IDLE
    for task in (queued, held):
        task.refresh_from_db()
        assert task.status == S.CANCELLED
        with pytest.raises(HubError) as refused:
            queue.cancel_task(task.id, actor="operator:ops")
        assert refused.value.code == "invalid_state" and refused.value.http_status == 409


def test_retry_from_dead_letter_only(make_agent, submit):
    agent = make_agent(online=True)
    task = submit(max_retries=1)
    queue.assign_task(task.id, agent.pk)
    task.refresh_from_db()
    queue.fail_task(task.id, agent, task.generation, error="x")
    queue.retry_dead_letter(task.id, actor="operator:ops")
    task.refresh_from_db()
    assert task.status == S.QUEUED and task.retry_count == 0 and task.last_error == ""
    with pytest.raises(HubError) as refused:
        queue.retry_dead_letter(task.id, actor="operator:ops")
    assert refused.value.code == "invalid_state"


def test_model_refuses_transitions_outside_the_lifecycle(submit):
    task = submit()
    with pytest.raises(TransitionNotAllowed):
        task.complete(result={}, tokens_used=None)
    with pytest.raises(TransitionNotAllowed):
        task.retry()


def test_idempotency_key_returns_the_existing_task(submit):
    first, created = queue.submit_task(description="a", submitted_by="bot", idempotency_key="k1")
    again, created_again = queue.submit_task(
        description="b", submitted_by="bot", idempotency_key="k1"
    )
    other, created_other = queue.submit_task(
        description="c", submitted_by="bot2", idempotency_key="k1"
    )
    assert created and not created_again and created_other
    assert again.id == first.id and other.id != first.id
    assert Task.objects.count() == 2


def test_dependencies_hold_a_task_until_completed(make_agent, submit):
    agent = make_agent(online=True)
    parent = submit("parent")
    child = submit("child", depends_on=[parent.id])
    assert child.waiting_on == 1
    assert list(eligible_queued().values_list("id", flat=True)) == [parent.id]
    queue.assign_task(parent.id, agent.pk)
    parent.refresh_from_db()
    queue.complete_task(parent.id, agent, parent.generation, result={})
    child.refresh_from_db()
    assert child.waiting_on == 0
    assert list(eligible_queued().values_list("id", flat=True)) == [child.id]


def test_unknown_dependency_is_a_validation_error(submit):
    with pytest.raises(ValidationFailed) as failed:
        submit(depends_on=["task-ffffffffffffffff"])
    assert failed.value.problems[0].field == "depends_on[0]"
    assert Task.objects.count() == 0


def test_queue_order_is_priority_then_age(submit):
    low = submit("low", priority=3)
    normal_old = submit("normal old", priority=2)
    urgent = submit("urgent", priority=0)
    normal_new = submit("normal new", priority=2)
    expired = submit("expired", complete_by=now() - timedelta(seconds=1))
    order = list(eligible_queued().values_list("id", flat=True))
    assert order == [urgent.id, normal_old.id, normal_new.id, low.id]
    assert expired.id not in order


def test_announcements_wait_for_commit(submit, django_capture_on_commit_callbacks):
    from agentcom_site.core import events as task_events

    seen = []
    listener = task_events.subscribe(lambda event: seen.append(event.kind))
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            submit()
        assert seen == []  # nothing announced before commit
        for callback in callbacks:
            callback()
        assert seen == ["task_submitted"]
    finally:
        task_events.unsubscribe(listener)


def _columns(row) -> dict:
    return {f.attname: getattr(row, f.attname) for f in type(row)._meta.concrete_fields}


def _assert_saved(task: Task) -> None:
    """Operations save only the fields transitions change: nothing may be left unsaved."""
    stored = Task.objects.get(pk=task.pk)
    expected = _columns(task)
    expected["updated_at"] = stored.updated_at  # auto_now, set at save
    assert _columns(stored) == expected
    if task.holder_id is not None:
        assert _columns(task.holder) == _columns(type(task.holder).objects.get(pk=task.holder_id))


def test_every_operation_persists_all_it_changes(make_agent, submit):
    agent = make_agent("saver", online=True)
    other = make_agent("other", online=True)
    task = submit(metadata={"k": 1}, max_retries=2)

    def step(operation) -> Task:
        changed = operation(task)
        _assert_saved(changed)
        return changed

    task = step(lambda t: queue.assign_task(t.id, agent.pk))
    task = step(lambda t: queue.reject_task(t.id, agent, t.generation, reason="busy"))
    rejecter = type(agent).objects.get(pk=agent.pk)
    assert rejecter.state == AgentState.IDLE and rejecter.idle_since is not None
    assert rejecter.busy and rejecter.busy_since is not None
    task = step(lambda t: queue.assign_task(t.id, other.pk))
    task = step(lambda t: queue.accept_task(t.id, other, t.generation))
    task = step(lambda t: queue.record_progress(t.id, other, t.generation, progress={"n": 1}))
    task = step(lambda t: queue.fail_task(t.id, other, t.generation, error="boom"))
    task = step(lambda t: queue.assign_task(t.id, other.pk))
    task = step(lambda t: queue.reclaim_task(t.id, reason="operator"))
    task = step(lambda t: queue.assign_task(t.id, other.pk))
    task = step(lambda t: queue.fail_task(t.id, other, t.generation, error="boom again"))
    assert task.status == S.DEAD_LETTER
    task = step(lambda t: queue.retry_dead_letter(t.id, actor="op"))
    task = step(lambda t: queue.assign_task(t.id, other.pk))
    task = step(
        lambda t: queue.complete_task(t.id, other, t.generation, result={"ok": 1}, tokens_used=5)
    )
    assert task.status == S.COMPLETED
    _assert_saved(queue.cancel_task(submit().id, actor="op"))
