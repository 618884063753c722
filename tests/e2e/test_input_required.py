"""A question to the operator and delegation against a real hub, with raw WebSocket clients
(PROTOCOL.md §3.9, §4.5): ask, answer over HTTP, receive task_input, complete; keep
waiting across a reconnect and get the answer given while away; the timers leave the
waiting task alone; an older client is refused; children within their limits."""

import json
import os
import subprocess
import sys

import pytest

from tests.e2e.harness import ROOT, AgentClient

pytestmark = pytest.mark.e2e

FEATURES = {"features": ["input_required"]}
# The hub's own sweep stays away: the test runs the sweep itself, when it wants to.
HUB_ENV = {
    "AGENTCOM_SWEEP_INTERVAL_S": "3600",
    "AGENTCOM_RECONNECT_GRACE_S": "600",
    "AGENTCOM_DELEGATION_MAX_CHILDREN": "1",
}


def sweep_now(backend, **env: str) -> dict:
    """One sweep of the hub's database, in a process of its own, with these timers."""
    script = (
        "import django,json,os\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE','agentcom_site.settings')\n"
        "django.setup()\n"
        "from tasks.sweep import sweep_once\n"
        "r=sweep_once()\n"
        "print(json.dumps({'stuck':r.stuck,'acceptance':r.acceptance_timeouts,"
        "'grace':r.grace_expired}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **backend.env, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


async def working(hub, agent: AgentClient, ops: str, **body) -> tuple[str, int]:
    """Submit a task pinned to `agent`, take it and accept it: (task_id, generation)."""
    status, answer = await hub.ahttp(
        "POST", "/api/tasks", {"description": "work", "assign_to": agent.agent_id, **body}, ops
    )
    assert status == 201, answer
    assign = await agent.recv_type("task_assign")
    assert assign["task_id"] == answer["task_id"]
    ack = await agent.ask({"type": "task_accepted", "task_id": assign["task_id"]}, "task_ack")
    assert ack["status"] == "accepted"
    return assign["task_id"], assign["generation"]


def ask(task_id: str, generation: int, question: str) -> dict:
    return {
        "type": "task_input_required",
        "task_id": task_id,
        "generation": generation,
        "question": question,
    }


async def record(hub, ops: str, task_id: str) -> dict:
    status, body = await hub.ahttp("GET", f"/api/tasks/{task_id}", token=ops)
    assert status == 200, body
    return body


async def test_a_question_is_answered_across_a_reconnect_and_the_task_completes(backend, start_hub):
    hub = start_hub(HUB_ENV)
    ops = backend.operator_token()
    tokens = backend.create_agents(["asker", "plain"])
    asker = await AgentClient(hub, "asker", tokens["asker"]).connect(presence=False, **FEATURES)
    plain = await AgentClient(hub, "plain", tokens["plain"]).connect(presence=False)
    task_id, generation = await working(hub, asker, ops)
    plain_task, plain_generation = await working(hub, plain, ops)

    # A client that did not declare the feature is refused; its task stays working.
    refused = await plain.ask(ask(plain_task, plain_generation, "may I?"), "error")
    assert refused["error"] == "task_input_required_failed: feature_not_declared"
    assert (await record(hub, ops, plain_task))["status"] == "working"

    ack = await asker.ask(ask(task_id, generation, "Which branch?"), "task_ack")
    assert ack == {"type": "task_ack", "task_id": task_id, "status": "input_required"}
    waiting = await record(hub, ops, task_id)
    assert (waiting["status"], waiting["question"]) == ("input_required", "Which branch?")
    state = (await hub.ahttp("GET", "/api/agents/asker/state", token=ops))[1]
    assert (state["fsm_state"], state["current_task_id"]) == ("working", task_id)

    # Every timer that could take a task back fires at once; only the silent working
    # task of the older client goes, the waiting one stays.
    swept = sweep_now(backend, AGENTCOM_STUCK_AFTER_S="0", AGENTCOM_ACCEPT_TIMEOUT_S="0")
    assert swept["stuck"] == [plain_task] and task_id not in swept["acceptance"]
    assert (await record(hub, ops, task_id))["status"] == "input_required"

    # Reconnect within the grace: the task keeps waiting.
    await asker.close()
    asker = await AgentClient(hub, "asker", tokens["asker"]).connect(presence=False, **FEATURES)
    report = {"type": "state_report", "task_id": task_id, "generation": generation}
    assert (await asker.ask(report, "state_report_ack"))["action"] == "continue"
    assert (await asker.recv_type("task_continue"))["generation"] == generation
    assert (await record(hub, ops, task_id))["status"] == "input_required"

    # Answered while the agent is away: the answer comes when it is back.
    await asker.close()
    status, answered = await hub.ahttp(
        "POST", f"/api/tasks/{task_id}/answer", {"answer": "release-2"}, ops
    )
    assert (status, answered["answer_id"]) == (200, 1)
    status, _ = await hub.ahttp(
        "POST", f"/api/tasks/{task_id}/answer", {"answer": "x"}, tokens["asker"]
    )
    assert status == 403
    asker = await AgentClient(hub, "asker", tokens["asker"]).connect(presence=False, **FEATURES)
    await asker.send({"type": "task_recovering", "task_id": task_id})
    await asker.recv_type("task_continue")
    pushed = await asker.recv_type("task_input")
    assert pushed == {
        "type": "task_input",
        "task_id": task_id,
        "generation": generation,
        "answer_id": 1,
        "question": "Which branch?",
        "answer": "release-2",
    }

    # A second question, answered while connected: pushed at once.
    await asker.send(
        {"type": "task_progress", "task_id": task_id, "generation": generation, "progress": 1}
    )
    await asker.ask(ask(task_id, generation, "Squash?"), "task_ack")
    await hub.ahttp("POST", f"/api/tasks/{task_id}/answer", {"answer": "yes"}, ops)
    second = await asker.recv_type("task_input")
    assert (second["answer_id"], second["answer"]) == (2, "yes")

    done = await asker.ask(
        {"type": "task_complete", "task_id": task_id, "generation": generation, "result": {}},
        "task_ack",
    )
    assert done["status"] == "complete"
    final = await record(hub, ops, task_id)
    events = [entry["event"] for entry in reversed(final["history"])]
    assert events.count("input_required") == 2 and events.count("input_answered") == 2
    assert final["status"] == "completed" and final["answered_by"] == "operator:ops"
    await asker.close()
    await plain.close()


async def test_delegated_children_and_their_limit(backend, start_hub):
    hub = start_hub(HUB_ENV)
    ops = backend.operator_token()
    tokens = backend.create_agents(["lead"])
    lead = await AgentClient(hub, "lead", tokens["lead"]).connect(presence=False, **FEATURES)
    parent, _ = await working(hub, lead, ops)

    status, child = await hub.ahttp(
        "POST", "/api/tasks", {"description": "sub-task"}, tokens["lead"]
    )
    assert status == 201
    assert (await record(hub, ops, child["task_id"]))["parent"] == parent
    status, refused = await hub.ahttp(
        "POST", "/api/tasks", {"description": "one more"}, tokens["lead"]
    )
    assert (status, refused["error"], refused["limit"]) == (409, "too_many_children", 1)
    children = (await record(hub, ops, parent))["children"]
    assert children == [{"id": child["task_id"], "status": "queued"}]

    status, metrics = await hub.ahttp("GET", "/metrics", token=ops)
    assert status == 200 and 'status="input_required"' in metrics
    await lead.close()
