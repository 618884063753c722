"""Done when, end to end through the SDK's own MCP client: a session asks an operator and
gets the answer in the same call, then completes its task; a delegated child runs on
another agent and the parent completes after it; an answer that comes after the session
ended wakes the agent again with it; the hub's refusals come back as tool errors."""

import asyncio
import json
import sys

import pytest

from tests.e2e.agents import wait_until
from tests.e2e.mcp_session import (
    STARTED,
    call,
    held,
    record,
    refused,
    session,
    socket_ready,
    start_sidecar,
    stop_sidecars,  # noqa: F401 - autouse: no sidecar outlives its test
    submit,
    task_env,
)
from tests.sidecar.harness import SidecarProcess, fast_config

pytestmark = pytest.mark.e2e


@pytest.fixture
def hub(start_hub):
    return start_hub()


async def status_of(hub, token, task_id) -> str:
    return (await record(hub, token, task_id))["status"]


async def test_a_question_is_answered_by_an_operator_into_the_same_call(backend, hub, tmp_path):
    ops = backend.operator_token()
    sidecar = start_sidecar(backend, hub, tmp_path, "thinker")
    await socket_ready(sidecar)
    task_id = await submit(hub, ops, description="paint the shed")
    local = await held(sidecar, task_id)

    async with session(sidecar, **task_env(task_id, local["generation"])) as client:
        asking = asyncio.create_task(
            client.call_tool("ask_operator", {"question": "Which colour, blue or green?"})
        )

        async def waiting_on_the_hub():
            return await status_of(hub, ops, task_id) == "input_required"

        await wait_until(waiting_on_the_hub, timeout=20)
        waiting = await record(hub, ops, task_id)
        assert waiting["question"] == "Which colour, blue or green?"
        assert not asking.done()

        status, answered = await hub.ahttp(
            "POST", f"/api/tasks/{task_id}/answer", {"answer": "green, please"}, ops
        )
        assert status == 200, answered

        result = await asyncio.wait_for(asking, 20)
        assert not result.is_error, result.content
        assert result.structured_content["answer"] == "green, please"
        assert result.structured_content["question"] == "Which colour, blue or green?"
        assert await status_of(hub, ops, task_id) == "working"

        await call(client, "complete_task", {"output": "painted it green"})

        async def completed():
            return await status_of(hub, ops, task_id) == "completed"

        await wait_until(completed, timeout=20)
    events = [entry["event"] for entry in (await record(hub, ops, task_id))["history"]]
    assert {"input_required", "input_answered", "completed"} <= set(events)
    kept = sidecar.queue()
    assert kept["active"] is None


async def test_a_delegated_child_runs_on_another_agent_before_the_parent_completes(
    backend, hub, tmp_path
):
    ops = backend.operator_token()
    lead = start_sidecar(backend, hub, tmp_path, "lead")
    helper_dir = tmp_path / "helper"
    helper_dir.mkdir()
    helper_token = backend.create_agents(["helper"])["helper"]
    helper = SidecarProcess(
        helper_dir, fast_config(hub.ws_url, agent_id="helper", token=helper_token)
    ).start()
    STARTED.append(helper)
    await socket_ready(lead)
    await socket_ready(helper)
    parent_id = await submit(hub, ops, description="ship the feature", assign_to="lead")
    local = await held(lead, parent_id)

    async with session(lead, **task_env(parent_id, local["generation"])) as client:
        child = await call(
            client,
            "submit_task",
            {"description": "write the tests", "title": "tests", "pinned_to": "helper"},
        )
        child_id = child["task_id"]

        async def child_done():
            state = await call(client, "task_status", {"task_id": child_id})
            return state["status"] == "completed"

        await wait_until(child_done, timeout=30)
        child_state = await call(client, "task_status", {"task_id": child_id})
        assert child_state["parent"] == parent_id
        assert await status_of(hub, ops, parent_id) == "working"

        await call(client, "complete_task", {"output": f"shipped, tests in {child_id}"})

        async def parent_done():
            return await status_of(hub, ops, parent_id) == "completed"

        await wait_until(parent_done, timeout=20)

    parent, child_record = (
        await record(hub, ops, parent_id),
        await record(hub, ops, child_id),
    )
    assert child_record["submitted_by"] == "lead"
    assigned = [e for e in child_record["history"] if e["event"] == "assigned"]
    assert assigned and all(e.get("agent_id", "helper") == "helper" for e in assigned)
    assert child_record["completed_at"] <= parent["completed_at"]
    assert {"id": child_id, "status": "completed"} in parent["children"]


async def test_an_answer_after_the_session_ended_wakes_the_agent_with_it(backend, hub, tmp_path):
    """The session gave up waiting (no_answer_yet) and ended; the operator answers later.
    The sidecar keeps the answer with the task and wakes the agent again; the new
    session's task file holds it. Asking again while the first question is open is
    refused by the hub (invalid_state)."""
    ops = backend.operator_token()
    copy_task = (
        f'{sys.executable} -c "import os,shutil,time;'
        f"shutil.copy(os.environ['TASK_FILE'], 'woken-%d.json' % time.time_ns())\""
        f" && {sys.executable} -m sidecar started"
    )
    sidecar = start_sidecar(
        backend,
        hub,
        tmp_path,
        "sleeper",
        wake_command=copy_task,
        self_wake=None,
        ask_operator_timeout_ms=1500,
    )
    await socket_ready(sidecar)
    task_id = await submit(hub, ops, description="pick a name")
    local = await held(sidecar, task_id)

    async with session(sidecar, **task_env(task_id, local["generation"])) as client:
        gave_up = await refused(client, "ask_operator", {"question": "Which name?"})
        assert gave_up["error"] == "no_answer_yet"
        assert await status_of(hub, ops, task_id) == "input_required"
        again = await refused(client, "ask_operator", {"question": "Which name, really?"})
        assert again["error"] == "invalid_state"
        assert "operator_answers" not in (await call(client, "current_task"))["task"]

    status, _ = await hub.ahttp("POST", f"/api/tasks/{task_id}/answer", {"answer": "Ada"}, ops)
    assert status == 200

    def woken_twice():
        return len(list(sidecar.dir.glob("woken-*.json"))) >= 2

    await wait_until(woken_twice, timeout=20)
    latest = sorted(sidecar.dir.glob("woken-*.json"))[-1]
    answers = json.loads(latest.read_text())["operator_answers"]
    assert [(a["question"], a["answer"]) for a in answers] == [("Which name?", "Ada")]
    assert await status_of(hub, ops, task_id) == "working"

    async with session(sidecar, **task_env(task_id, local["generation"])) as client:
        current = (await call(client, "current_task"))["task"]
        assert current["operator_answers"][0]["answer"] == "Ada"
        await call(client, "complete_task", {"output": "named it Ada"})

    async def completed():
        return await status_of(hub, ops, task_id) == "completed"

    await wait_until(completed, timeout=20)
