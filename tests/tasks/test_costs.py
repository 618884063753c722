"""What results cost: the fields of task_complete over a real agent socket, the price
table, and GET /api/costs summing them per agent, capability, repo and day."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client

from agentcom_site.core.clock import now, to_ms
from agents import services, tokens
from tasks import queue, scheduler
from tasks.models import AttemptCost, Task
from tests.conftest import assign, bring_online
from tests.sockets import agent_socket, db

PRICES = {"m-cheap": {"in_per_mtok": 3.0, "out_per_mtok": 15.0}}


@pytest.fixture
async def running_scheduler():
    loop = scheduler.install_local_loop()
    yield loop
    await loop.stop()
    scheduler.uninstall_local_loop()


@db
def _token(agent_id: str) -> str:
    agent, _ = services.ensure_agent(agent_id)
    return tokens.issue_agent_token(agent)[1]


@db
def _submit() -> str:
    return queue.submit_task(description="work", submitted_by="t")[0].id


@db
def _row(task_id: str) -> Task:
    return Task.objects.get(pk=task_id)


async def _complete(sock, frame: dict, extra: dict) -> dict:
    return await sock.ask(
        {
            "type": "task_complete",
            "task_id": frame["task_id"],
            "generation": frame["generation"],
            **extra,
        }
    )


@pytest.mark.django_db(transaction=True)
async def test_cost_fields_of_task_complete_are_stored_in_columns(running_scheduler, settings):
    settings.AGENTCOM_PRICES = PRICES
    sock = await agent_socket("worker", await _token("worker"))

    # Top-level fields win over the result's own; the raw result is kept whole.
    await _submit()
    frame = await sock.recv_type("task_assign")
    result = {"status": "success", "cost_usd": 9.0, "model": "inside"}
    given = {"tokens_in": 1200, "tokens_out": 300, "model": "claude-x", "cost_usd": 0.0123}
    given |= {"execution_ms": 4500, "iterations": 2, "session_id": "5f0c-11aa"}
    ack = await _complete(sock, frame, {"result": result, **given})
    assert ack["status"] == "complete"
    task = await _row(frame["task_id"])
    assert (task.tokens_in, task.tokens_out, task.model) == (1200, 300, "claude-x")
    assert task.cost_usd == Decimal("0.012300") and task.cost_computed is False
    assert (task.execution_ms, task.iterations, task.session_id) == (4500, 2, "5f0c-11aa")
    assert task.result == result and task.tokens_used == 1500  # in + out

    # Only tokens and a priced model, inside the result: the cost comes from the table.
    await _submit()
    frame = await sock.recv_type("task_assign")
    inside = {"status": "success", "tokens_in": 1_000_000, "tokens_out": 100_000}
    inside |= {"model": "m-cheap", "iterations": -3, "cost_usd": "free"}  # bad ones not counted
    await _complete(sock, frame, {"result": inside})
    task = await _row(frame["task_id"])
    assert task.cost_usd == Decimal("4.500000") and task.cost_computed is True
    assert task.iterations is None and task.tokens_used == 1_100_000  # in + out

    # A bad top-level figure is refused and changes nothing: the task is still held.
    await _submit()
    frame = await sock.recv_type("task_assign")
    for bad in (
        {"tokens_in": -1},
        {"tokens_in": 2**53 + 1},
        {"cost_usd": 1_000_001},
        {"model": "bad model"},
        {"session_id": "x" * 257},
        {"execution_ms": 1.5},
    ):
        reply = await _complete(sock, frame, {"result": {}, **bad})
        assert reply["type"] == "error" and reply["error"] == "validation_failed", bad
    assert (await _row(frame["task_id"])).status == "assigned"
    await sock.close()


@pytest.mark.django_db
def test_costs_are_summed_per_agent_capability_repo_and_day(operator_token):
    rows = [
        ("alpha", "shop", ["py"], "0.5", 0),
        ("alpha", "shop", ["py", "git"], "0.25", 1),
        ("beta", "blog", [], "2", 1),
        ("beta", "", ["py"], "1", 40),  # outside the default 7 days
    ]
    for agent_id, repo, capabilities, cost, days_ago in rows:
        _completed(agent_id, repo, capabilities, cost, days_ago)
    ops = Client(headers={"Authorization": f"Bearer {operator_token}"})

    def groups(query: str) -> dict[str, tuple[int, float]]:
        answer = ops.get(f"/api/costs?{query}").json()
        return {g["key"]: (g["tasks"], g["cost_usd"]) for g in answer["groups"]}

    assert groups("by=agent") == {"beta": (1, 2.0), "alpha": (2, 0.75)}
    assert groups("by=repo") == {"blog": (1, 2.0), "shop": (2, 0.75)}
    assert groups("by=capability") == {"": (1, 2.0), "py": (1, 0.5), "git, py": (1, 0.25)}
    day = (now() - timedelta(days=1)).date().isoformat()
    assert groups("by=day")[day] == (2, 2.25)
    since = to_ms(now() - timedelta(days=60))
    whole = ops.get(f"/api/costs?by=agent&since={since}").json()
    assert whole["totals"]["cost_usd"] == 3.75 and whole["totals"]["tasks"] == 4
    assert whole["totals"]["tokens_in"] == 400 and whole["truncated"] is False

    too_long = ops.get(f"/api/costs?since={to_ms(now() - timedelta(days=91))}")
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "since"
    backwards = ops.get(f"/api/costs?since={to_ms(now())}&until={to_ms(now()) - 1000}")
    assert backwards.status_code == 422
    assert ops.get("/api/costs?by=submitter").status_code == 422
    agent = Client(headers={"Authorization": f"Bearer {_plain_token('alpha')}"})
    assert agent.get("/api/costs").status_code == 403


def _completed(agent_id, repo, capabilities, cost, days_ago):
    agent, _ = services.ensure_agent(agent_id, capabilities=["py", "git"])
    agent = bring_online(agent)
    task, _ = queue.submit_task(
        description="w",
        submitted_by="t",
        needed_capabilities=capabilities,
        definition={"repo": repo},
    )
    task = assign(task.id, agent)
    queue.complete_task(
        task.id,
        agent,
        task.generation,
        result={"tokens_in": 100, "tokens_out": 10, "cost_usd": float(cost)},
    )
    moment = now() - timedelta(days=days_ago)
    Task.objects.filter(pk=task.id).update(completed_at=moment)
    AttemptCost.objects.filter(task_id=task.id).update(reported_at=moment)


def _plain_token(agent_id: str) -> str:
    agent, _ = services.ensure_agent(agent_id)
    return tokens.issue_agent_token(agent)[1]
