"""A real hub process and real WebSocket agents: a task that says what done means reaches
its agent in task_assign, an agent may not set command steps, a completion's cost is
stored (or priced from AGENTCOM_PRICES) and GET /api/costs sums it; a malformed price
table stops the hub at start."""

import json
import os
import subprocess
import sys

import pytest

from tests.e2e.harness import ROOT, AgentClient

pytestmark = pytest.mark.e2e

PRICES = {"m-priced": {"in_per_mtok": 2.0, "out_per_mtok": 10.0}}
DEFINITION = {
    "repo": "git@github.com:acme/shop.git",
    "branch": "main",
    "file_hints": ["src/app.py"],
    "success_criteria": "The app starts.",
    "verification_steps": [
        {"type": "tests_pass", "command": "pytest -q", "timeout_s": 600},
        {"type": "diff_within", "paths": ["src/**", "tests/**"]},
    ],
    "max_verification_retries": 1,
}


async def _run_one(agent: AgentClient, extra: dict) -> dict:
    frame = await agent.recv_type("task_assign")
    task_id, generation = frame["task_id"], frame["generation"]
    await agent.ask({"type": "task_accepted", "task_id": task_id}, "task_ack")
    complete = {"type": "task_complete", "task_id": task_id, "generation": generation, **extra}
    assert (await agent.ask(complete, "task_ack"))["status"] == "complete"
    return frame


async def test_definition_travels_and_costs_are_summed(backend, start_hub):
    hub = start_hub(env={"AGENTCOM_PRICES": json.dumps(PRICES)})
    worker_token = backend.create_agent("worker", ["code"])
    ops = backend.operator_token()
    agent = await AgentClient(hub, "worker", worker_token, ["code"]).connect()

    refused = await hub.ahttp(
        "POST", "/api/tasks", {"description": "x", **DEFINITION}, worker_token
    )
    assert refused[0] == 403 and refused[1]["error"] == "command_steps_forbidden"

    status, first = await hub.ahttp(
        "POST", "/api/tasks", {"description": "Ship it", **DEFINITION, "repo": "shop"}, ops
    )
    assert status == 201
    given = {"tokens_in": 1000, "tokens_out": 100, "model": "m-x", "cost_usd": 0.75}
    frame = await _run_one(agent, {"result": {"status": "success"}, **given, "iterations": 2})
    assert frame["task_id"] == first["task_id"]
    for field in ("branch", "file_hints", "success_criteria", "verification_steps"):
        assert frame[field] == DEFINITION[field], field
    assert frame["repo"] == "shop" and frame["max_verification_retries"] == 1
    assert frame["complexity"] in ("trivial", "standard", "complex")
    assert frame["complexity_estimated"] is True and frame["complexity_reason"]

    await hub.ahttp("POST", "/api/tasks", {"description": "Next", "repo": "shop"}, ops)
    inside = {"status": "success", "tokens_in": 500_000, "tokens_out": 100_000, "model": "m-priced"}
    await _run_one(agent, {"result": inside})
    record = (await hub.ahttp("GET", f"/api/tasks/{first['task_id']}", token=ops))[1]
    assert (record["cost_usd"], record["iterations"], record["model"]) == (0.75, 2, "m-x")

    status, by_repo = await hub.ahttp("GET", "/api/costs?by=repo", token=ops)
    assert status == 200
    assert by_repo["groups"] == [
        {
            "key": "shop",
            "tasks": 2,
            "failed": 0,
            "priced": 2,
            "tokens_in": 501_000,
            "tokens_out": 100_100,
            "cost_usd": 2.75,  # 0.75 given + 0.5 M x $2 + 0.1 M x $10 priced
            "execution_ms": 0,
            "iterations": 2,
        }
    ]
    assert (await hub.ahttp("GET", "/api/costs", token=worker_token))[0] == 403
    await agent.close()


def test_a_malformed_price_table_stops_the_hub_at_start(backend):
    env = {**backend.env, "AGENTCOM_PRICES": '{"m": {"in_per_mtok": -1, "out_per_mtok": 1}}'}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "AGENTCOM_PRICES['m'].in_per_mtok must be 0-10000" in done.stderr
