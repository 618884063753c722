"""An agent rejecting its own pinned task over and over: the task comes back ever more
slowly, and the audit trail counts the repeats instead of growing without end."""

import pytest

from agentcom_site.core.clock import now_ms
from agents import services, tokens
from tasks import queue, scheduler
from tasks.models import Task, TaskEvent
from tests.sockets import agent_socket, db

pytestmark = pytest.mark.django_db(transaction=True)

CYCLES = 40


@db
def new_agent(agent_id: str) -> str:
    agent, _ = services.ensure_agent(agent_id)
    return tokens.issue_agent_token(agent)[1]


@db
def push(agent_id: str) -> str:
    return queue.push_task(
        agent_id=agent_id,
        submitted_by="ops",
        description="pinned",
        title=None,
        metadata={},
        priority=2,
        max_retries=3,
        complete_by=None,
        needed_capabilities=[],
    ).id


@db
def task_row(task_id: str) -> Task:
    return Task.objects.get(pk=task_id)


@db
def events(task_id: str) -> list[tuple]:
    return list(
        TaskEvent.objects.filter(task_id=task_id).order_by("seq").values_list("event", "repeats")
    )


@db
def end_backoff(task_id: str) -> None:
    """What waiting out the backoff does, without the wait."""
    task = Task.objects.get(pk=task_id)
    Task.objects.filter(pk=task_id).update(
        held_off={agent: [streak, 0] for agent, (streak, _) in task.held_off.items()}
    )


async def reject(sock, task_id: str, generation: int) -> dict:
    await sock.send({"type": "task_rejected", "task_id": task_id, "generation": generation})
    return await sock.recv_type("task_ack")


async def test_a_rejection_loop_is_slowed_and_folded_into_few_rows():
    sock = await agent_socket("looper", await new_agent("looper"))
    task_id = await push("looper")
    frame = await sock.recv_type("task_assign")

    before = now_ms()
    assert (await reject(sock, task_id, frame["generation"]))["status"] == "rejected"
    task = await task_row(task_id)
    streak, until = task.held_off["looper"]
    assert streak == 1 and before + 1000 <= until <= now_ms() + 1000
    # Within the backoff no pass offers it again, and repeats change nothing.
    assert await db(scheduler.schedule_pass)() == 0
    await sock.send({"type": "task_rejected", "task_id": task_id})
    assert (await sock.recv_type("error"))["error"] == "task_reject_failed: invalid_state"
    assert await sock.nothing()

    for _ in range(CYCLES):
        await end_backoff(task_id)
        assert await db(scheduler.schedule_pass)() == 1
        frame = await sock.recv_type("task_assign")
        before = now_ms()
        assert (await reject(sock, task_id, frame["generation"]))["status"] == "rejected"

    task = await task_row(task_id)
    streak, until = task.held_off["looper"]
    assert streak == CYCLES + 1
    assert before + 60_000 <= until <= now_ms() + 60_000  # doubled from 1 s, capped at 60 s
    rows = await events(task_id)
    assert len(rows) <= 5, rows  # the first assignment, the folded pair, half a round
    assert sum(count for event, count in rows if event == "rejected") == CYCLES + 1
    assert sum(count for event, count in rows if event == "assigned") == CYCLES + 1
    await sock.close()


async def test_the_backoff_doubles_per_rejection(settings):
    sock = await agent_socket("doubler", await new_agent("doubler"))
    task_id = await push("doubler")
    frame = await sock.recv_type("task_assign")
    delays = []
    for _ in range(4):
        before = now_ms()
        await reject(sock, task_id, frame["generation"])
        delays.append((await task_row(task_id)).held_off["doubler"][1] - before)
        await end_backoff(task_id)
        assert await db(scheduler.schedule_pass)() == 1
        frame = await sock.recv_type("task_assign")
    assert [d // 1000 for d in delays] == [1, 2, 4, 8]  # a rejection takes well under 1 s
    await sock.close()
