"""Each rule fires from real rows: the facts `gather` reads are the ones the rules need."""

from datetime import timedelta

import pytest

from agentcom_site.core.clock import now
from agentcom_site.operations import alerts
from agentcom_site.operations.models import Alert
from agents.models import Agent, AgentState
from tasks import queue
from tasks.models import Task
from tests.conftest import assign

pytestmark = pytest.mark.django_db


def fired() -> set[tuple[str, str]]:
    alerts.run_round()
    return set(Alert.objects.filter(state="firing").values_list("rule", "key"))


def test_an_agent_seen_once_and_gone_past_the_threshold(make_agent, ops):
    ops.put("/api/alerts/settings", {"agent_offline_s": 60})
    make_agent("never-connected")
    make_agent("gone")
    Agent.objects.filter(agent_id="gone").update(
        last_seen=now() - timedelta(hours=1), last_state_change=now() - timedelta(minutes=2)
    )
    assert fired() == {("agent_offline", "gone")}


def test_failures_stuck_work_dead_letters_and_an_offline_capability(make_agent, submit, ops):
    ops.put("/api/alerts/settings", {"failure_min": 2, "failure_rate": 0.5, "stuck_after_s": 60})
    worker = make_agent("worker", capabilities=["py"], online=True)
    for n in range(2):
        task = assign(submit(f"doomed {n}", max_retries=1).id, worker)
        queue.fail_task(task.id, worker, task.generation, error="boom")
    stuck = assign(submit("slow").id, worker)
    queue.accept_task(stuck.id, worker, stuck.generation)
    Task.objects.filter(pk=stuck.pk).update(last_activity_at=now() - timedelta(minutes=5))
    make_agent("gpu-box", capabilities=["gpu"])  # registered, never online
    submit("render", needed_capabilities=["gpu"])

    assert fired() == {
        ("failure_rate", ""),
        ("dead_letters", ""),
        ("stuck_tasks", ""),
        ("capability_offline", "gpu"),
    }
    rate = Alert.objects.get(rule="failure_rate")
    assert rate.facts == {"failed": 2, "succeeded": 0, "rate": 1.0}
    assert Alert.objects.get(rule="stuck_tasks").facts["tasks"] == [stuck.id]

    Agent.objects.filter(agent_id="gpu-box").update(state=AgentState.IDLE)
    assert ("capability_offline", "gpu") not in fired()
    assert Alert.objects.get(rule="capability_offline").state == "resolved"


def test_a_growing_queue(submit, ops):
    ops.put("/api/alerts/settings", {"queue_growth": 3})
    alerts.run_round()
    for n in range(3):
        submit(f"more {n}")
    assert ("queue_growing", "") in fired()


def test_a_question_waits_past_the_threshold_until_it_is_answered(make_agent, submit, ops):
    ops.put("/api/alerts/settings", {"question_after_s": 60})
    asker = make_agent("asker", online=True)
    asker.features = ["input_required"]
    asker.save(update_fields=["features"])
    task = assign(submit("ask").id, asker)
    queue.accept_task(task.id, asker, task.generation)
    queue.ask_operator(task.id, asker, task.generation, question="which?")
    assert fired() == set()  # asked just now
    Task.objects.filter(pk=task.pk).update(
        asked_at=now() - timedelta(minutes=5), last_activity_at=now() - timedelta(hours=1)
    )
    assert fired() == {("question_unanswered", task.id)}  # and not stuck_tasks
    queue.answer_task(task.id, answer="this", actor="operator:ops")
    alerts.run_round()
    assert Alert.objects.get(rule="question_unanswered").state == "resolved"
