"""Each counter moves at the one place its thing happens, and only once it committed."""

from datetime import timedelta

import pytest
from django.db import transaction
from prometheus_client import REGISTRY

from agentcom_site.core import ratelimit
from agentcom_site.core.clock import now
from tasks import queue
from tasks.models import Task
from tasks.scheduler import schedule_pass
from tasks.sweep import sweep_once
from tests.sockets import agent_socket, db

pytestmark = pytest.mark.django_db(transaction=True)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_sweep_counts_what_it_did(assigned, settings):
    settings.AGENTCOM_ACCEPT_TIMEOUT_S = 60
    task, _ = assigned()
    Task.objects.filter(pk=task.pk).update(last_activity_at=now() - timedelta(seconds=61))
    before = sample("agentcom_sweep_actions_total", action="acceptance_timeout")
    reclaimed = sample("agentcom_task_transitions_total", event="reclaimed", to_status="queued")

    sweep_once()

    assert sample("agentcom_sweep_actions_total", action="acceptance_timeout") == before + 1
    after = sample("agentcom_task_transitions_total", event="reclaimed", to_status="queued")
    assert after == reclaimed + 1


def test_a_scheduling_pass_is_timed(submit, make_agent):
    make_agent("idle-one", online=True)
    submit()
    before = sample("agentcom_scheduler_pass_seconds_count")
    schedule_pass()  # whether it assigns or the submission's own placement came first
    assert sample("agentcom_scheduler_pass_seconds_count") == before + 1


def test_a_rolled_back_transition_is_not_counted(submit):
    before = sample("agentcom_task_transitions_total", event="queued", to_status="queued")
    with pytest.raises(RuntimeError), transaction.atomic():
        submit()
        raise RuntimeError("roll back")
    assert sample("agentcom_task_transitions_total", event="queued", to_status="queued") == before


def test_failures_count_retries_dead_letters_and_work_time(assigned):
    task, agent = assigned(max_retries=2)
    retries, dead = (
        sample("agentcom_task_retries_total"),
        sample("agentcom_task_dead_letters_total"),
    )
    failed = sample("agentcom_task_work_seconds_count", outcome="failed")
    queue.accept_task(task.id, agent)
    queue.fail_task(task.id, agent, task.generation, error="boom")
    assert sample("agentcom_task_retries_total") == retries + 1
    assert sample("agentcom_task_work_seconds_count", outcome="failed") == failed + 1
    task.refresh_from_db()
    if task.status == "queued":  # not yet placed again by the scheduler's listener
        queue.assign_task(task.id, agent.pk)
        task.refresh_from_db()
    queue.fail_task(task.id, agent, task.generation, error="boom again")
    assert sample("agentcom_task_dead_letters_total") == dead + 1


def test_a_rate_refusal_counts_its_budget(small_rate_budgets):
    before = sample("agentcom_rate_limited_total", budget="default")
    key = ratelimit.principal_key("agent", "chatty")
    with pytest.raises(ratelimit.RateLimited):
        for _ in range(50):
            ratelimit.charge(key, ratelimit.READ)
    assert sample("agentcom_rate_limited_total", budget="default") == before + 1


@db
def _agent_with_token(agent_id: str) -> str:
    from agents import services, tokens

    agent, _ = services.ensure_agent(agent_id)
    return tokens.issue_agent_token(agent)[1]


async def test_frames_of_unknown_types_share_one_label():
    sock = await agent_socket("framer", await _agent_with_token("framer"))
    unknown = sample("agentcom_ws_frames_total", direction="in", type="unknown")
    refused = sample("agentcom_refusals_total", channel="ws", code="unknown_message_type")
    for kind in ("made-up-1", "made-up-2"):
        answer = await sock.ask({"type": kind})
        assert answer["error"] == "unknown_message_type"
    assert sample("agentcom_ws_frames_total", direction="in", type="unknown") == unknown + 2
    assert sample("agentcom_ws_frames_total", direction="in", type="made-up-1") == 0
    after = sample("agentcom_refusals_total", channel="ws", code="unknown_message_type")
    assert after == refused + 2
    await sock.close()
