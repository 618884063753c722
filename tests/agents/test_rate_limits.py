"""Rate limits on the agent socket: a warning near the limit, refusals past it, and the
task frames and pings that are never refused."""

import pytest

from agents import services, tokens
from agents.models import Agent
from messaging.models import Message
from tasks import queue
from tasks.models import Task
from tests.conftest import assign
from tests.sockets import agent_socket, db

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def small_budgets(small_rate_budgets):
    return small_rate_budgets


@db
def new_agent(agent_id: str) -> str:
    agent, _ = services.ensure_agent(agent_id, capabilities=[])
    return tokens.issue_agent_token(agent)[1]


@db
def give_task(agent_id: str) -> str:
    task, _ = queue.submit_task(description="work", submitted_by="t")
    assign(task.id, Agent.objects.get(agent_id=agent_id))
    return task.id


@db
def messages_stored() -> int:
    return Message.objects.count()


async def test_a_warning_near_the_limit_then_refusals_that_change_nothing():
    await new_agent("beta")
    sock = await agent_socket("alpha", await new_agent("alpha"), presence=False)
    for _ in range(8):
        assert (await sock.ask({"type": "list_agents"}))["type"] == "agents"
    # The 9th read leaves 1 of 10: below a fifth, so a warning comes first, once.
    await sock.send({"type": "list_agents"})
    warning = await sock.recv()
    assert warning["type"] == "rate_limit_warning"
    assert (warning["budget"], warning["remaining"], warning["capacity"]) == ("default", 1, 10)
    assert (await sock.recv())["type"] == "agents"
    assert (await sock.ask({"type": "list_agents"}))["type"] == "agents"  # no second warning

    refused = await sock.ask({"type": "message", "to": "beta", "payload": {"n": 1}})
    assert refused["type"] == "error" and refused["error"] == "rate_limited"
    assert refused["retry_after_ms"] >= 100_000  # 2 tokens at 0.01 a second
    assert await messages_stored() == 0
    # The socket stays open and usable: pings are free.
    assert (await sock.ask({"type": "ping"}))["type"] == "pong"
    await sock.close()


async def test_a_spent_budget_never_starves_the_task_lifecycle():
    sock = await agent_socket("worker", await new_agent("worker"), presence=False)
    task_id = await give_task("worker")
    assign = await sock.recv_type("task_assign")
    for _ in range(10):  # spends the default budget (with a warning on the way)
        await sock.send({"type": "list_agents"})
        while (await sock.recv())["type"] != "agents":
            pass
    assert (await sock.ask({"type": "list_agents"}))["error"] == "rate_limited"

    ack = await sock.ask({"type": "task_accepted", "task_id": task_id})
    assert ack == {"type": "task_ack", "task_id": task_id, "status": "accepted"}
    progress = {"type": "task_progress", "task_id": task_id, "generation": assign["generation"]}
    for _ in range(3):  # progress has its own budget, and no reply
        await sock.send(progress)
    assert (await sock.recv())["budget"] == "lifecycle"  # the warning
    assert (await sock.ask(progress))["error"] == "rate_limited"
    done = await sock.ask(
        {"type": "task_complete", "task_id": task_id, "generation": assign["generation"]}
    )
    assert done["status"] == "complete"
    assert (await db(lambda: Task.objects.get(pk=task_id).status)()) == "completed"
    await sock.close()


async def test_a_broadcast_costs_more_than_a_direct_message():
    await new_agent("beta")
    sock = await agent_socket("alpha", await new_agent("alpha"), presence=False)
    await sock.send({"type": "message", "to": "broadcast", "payload": {}})
    assert (await sock.recv())["type"] == "rate_limit_warning"  # 10 of 10 spent
    assert {(await sock.recv())["type"], (await sock.recv())["type"]} == {"message_sent", "message"}
    refused = await sock.ask({"type": "message", "to": "beta", "payload": {}})
    assert refused["error"] == "rate_limited"
    await sock.close()
