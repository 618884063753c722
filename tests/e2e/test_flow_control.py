"""Flow control against a real hub: pause, resume and drain with a real sidecar and the
fake agent, and every explain reason read from a running hub.

Scaled (Postgres + Redis): the hub runs no scheduler, a `schedule` worker does; the
resume reaches it over the shared trigger channel, and the pause is database state.
"""

import json

import pytest

from tests.e2e.agents import wait_until
from tests.e2e.harness import SCALED, AgentClient
from tests.sidecar.harness import SidecarProcess, fast_config

pytestmark = pytest.mark.e2e

SHOW = []  # the explain answers of a run, printed at the end (pytest -s)


def hub_with_scheduler(start_hub, **env):
    if SCALED:
        hub = start_hub(env, no_scheduler=True)
        start_hub(env, worker=True)
        return hub
    return start_hub(env)


async def submit(hub, token, **body) -> dict:
    status, answer = await hub.ahttp("POST", "/api/tasks", {"description": "work", **body}, token)
    assert status == 201, answer
    return answer


async def explain(hub, token, task_id: str) -> dict:
    status, answer = await hub.ahttp("GET", f"/api/tasks/{task_id}/explain", token=token)
    assert status == 200, answer
    SHOW.append(answer)
    return answer


def codes(answer: dict) -> list[str]:
    return [reason["code"] for reason in answer["reasons"]]


async def status_of(hub, token, task_id: str) -> str:
    return (await hub.ahttp("GET", f"/api/tasks/{task_id}", token=token))[1]["status"]


async def test_pause_resume_and_drain_with_a_sidecar(backend, start_hub, tmp_path):
    # No sweep within the test: a resume or an undrain is acted on by its event alone.
    hub = hub_with_scheduler(start_hub, AGENTCOM_SWEEP_INTERVAL_S="3600")
    ops = backend.operator_token()
    token = backend.create_agent("worker", ["code"])
    config = fast_config(hub.ws_url, agent_id="worker", token=token, capabilities=["code"])
    # Long enough to drain the agent while it works on the first task.
    config["wake_command"] = config["wake_command"].replace("--delay 0.3", "--delay 3")
    (tmp_path / "worker").mkdir()
    sidecar = SidecarProcess(tmp_path / "worker", config).start()
    try:

        async def worker_idle():
            agents = (await hub.ahttp("GET", "/api/agents", token=ops))[1]["agents"]
            return [a["fsm_state"] for a in agents if a["agent_id"] == "worker"] == ["idle"]

        await wait_until(worker_idle, timeout=30)

        status, state = await hub.ahttp("POST", "/api/dispatch/pause", {"reason": "e2e"}, ops)
        assert (status, state["paused"], state["changed"]) == (200, True, True)
        assert (await hub.ahttp("GET", "/health"))[1]["dispatch"]["paused"] is True
        first = (await submit(hub, ops, needed_capabilities=["code"]))["task_id"]
        second = (await submit(hub, ops, needed_capabilities=["code"]))["task_id"]
        answer = await explain(hub, ops, first)
        assert codes(answer) == ["paused"]
        # Nothing was dispatched: both wait, and the worker is still idle with nothing held.
        assert [await status_of(hub, ops, t) for t in (first, second)] == ["queued", "queued"]
        assert await worker_idle()

        status, state = await hub.ahttp("POST", "/api/dispatch/resume", {"reason": "e2e"}, ops)
        assert (status, state["paused"]) == (200, False)
        assert [c["action"] for c in state["changes"]] == ["resumed", "paused"]

        async def working(task_id):
            return await status_of(hub, ops, task_id) == "working"

        await wait_until(lambda: working(first), timeout=30)
        status, drained = await hub.ahttp("POST", "/api/agents/worker/drain", token=ops)
        assert (status, drained["draining"]) == (200, True)

        async def completed(task_id):
            return await status_of(hub, ops, task_id) == "completed"

        await wait_until(lambda: completed(first), timeout=60)
        await wait_until(worker_idle, timeout=30)
        listed = (await hub.ahttp("GET", "/api/agents", token=ops))[1]["agents"]
        assert [a["draining"] for a in listed if a["agent_id"] == "worker"] == [True]
        answer = await explain(hub, ops, second)
        assert codes(answer) == ["capable_agents_draining"]
        assert await status_of(hub, ops, second) == "queued"

        status, _ = await hub.ahttp("POST", "/api/agents/worker/undrain", token=ops)
        assert status == 200
        await wait_until(lambda: completed(second), timeout=60)
        assert codes(await explain(hub, ops, second)) == ["completed"]
    finally:
        await sidecar.stop()


async def test_every_explain_reason_from_a_running_hub(backend, start_hub):
    """Each reason built over the wire; the answers are printed for the operations notes."""
    hub = hub_with_scheduler(start_hub, AGENTCOM_REJECT_BACKOFF_S="60")
    ops = backend.operator_token()
    tokens = backend.create_agents(["worker", "gpu-box", "picky"])
    backend.create_agent("rusty", ["rust"])  # registered, never connected
    worker = await AgentClient(hub, "worker", tokens["worker"], ["py"]).connect()
    gpu = await AgentClient(hub, "gpu-box", tokens["gpu-box"], ["gpu"]).connect()
    picky = await AgentClient(hub, "picky", tokens["picky"], ["go"]).connect()

    async def expect(task_id: str, *expected: str) -> None:
        answer = await explain(hub, ops, task_id)
        assert codes(answer) == list(expected), answer

    # paused, then resumed: the worker takes it and holds it
    await hub.ahttp("POST", "/api/dispatch/pause", {"reason": "maintenance"}, ops)
    held = (await submit(hub, ops, needed_capabilities=["py"]))["task_id"]
    await expect(held, "paused")
    await hub.ahttp("POST", "/api/dispatch/resume", {}, ops)
    assign = await worker.recv_type("task_assign")
    await worker.ask(
        {"type": "task_accepted", "task_id": held, "generation": assign["generation"]}, "task_ack"
    )
    await expect(held, "working")

    busy = (await submit(hub, ops, needed_capabilities=["py"]))["task_id"]
    await expect(busy, "all_capable_agents_busy")

    # a submitter cap, reached by the task the worker holds
    cap = {"scope": "submitter", "key": "operator:ops", "limit": 1}
    await hub.ahttp("PUT", "/api/dispatch/caps", cap, ops)
    capped = (await submit(hub, ops, needed_capabilities=["go"]))["task_id"]
    await expect(capped, "wip_cap")
    await hub.ahttp("PUT", "/api/dispatch/caps", {**cap, "limit": None}, ops)

    # picky takes it now, rejects it (60 s backoff), and is the only one who could
    offer = await picky.recv_type("task_assign")
    assert offer["task_id"] == capped
    await picky.ask(
        {
            "type": "task_rejected",
            "task_id": capped,
            "generation": offer["generation"],
            "reason": "not my kind of task",
        },
        "task_ack",
    )

    async def queued_again():
        return await status_of(hub, ops, capped) == "queued"

    await wait_until(queued_again, timeout=10)
    await expect(capped, "held_off")
    other = (await submit(hub, ops, needed_capabilities=["go"]))["task_id"]
    offer = await picky.recv_type("task_assign")
    assert offer["task_id"] == other
    await expect(capped, "rejected_by_all_capable")

    submitted = await submit(hub, ops, needed_capabilities=["quantum"])
    assert [w["code"] for w in submitted["warnings"]] == ["no_agent_with_capabilities"]
    await expect(submitted["task_id"], "no_agent_with_capabilities")
    await expect((await submit(hub, ops, needed_capabilities=["rust"]))["task_id"],
                 "capable_agents_offline")  # fmt: skip
    await hub.ahttp("POST", "/api/agents/gpu-box/drain", token=ops)
    await expect((await submit(hub, ops, needed_capabilities=["gpu"]))["task_id"],
                 "capable_agents_draining")  # fmt: skip
    await expect((await submit(hub, ops, assign_to="gpu-box"))["task_id"],
                 "pinned_agent_draining")  # fmt: skip
    pinned = (await submit(hub, ops, assign_to="rusty"))["task_id"]
    await expect(pinned, "pinned_agent_offline")
    await expect((await submit(hub, ops, depends_on=[pinned]))["task_id"],
                 "waiting_on_dependencies", "all_capable_agents_busy")  # fmt: skip
    await hub.ahttp("POST", "/api/dispatch/pause", {"capability": "py"}, ops)
    await expect(busy, "paused", "all_capable_agents_busy")

    for client in (worker, gpu, picky):
        await client.close()
    print("\nexplain answers from a running hub:")
    for answer in SHOW:
        print(json.dumps(answer))


async def test_a_rejected_task_is_offered_again_when_its_backoff_ends_not_at_the_sweep(
    backend, start_hub
):
    """Nothing commits when a reject backoff ends; the hub must still offer the task then.
    The sweep is an hour away and the process heartbeat slow. (Embedded, the watcher of
    SQLite commits may also wake the scheduler on some unrelated write; the scaled run,
    where a worker schedules, has no such trigger and failed here before.)"""
    quiet = {"AGENTCOM_SWEEP_INTERVAL_S": "3600", "AGENTCOM_PROCESS_BEAT_S": "30"}
    hub = hub_with_scheduler(
        start_hub, **quiet, AGENTCOM_PROCESS_DEAD_AFTER_S="120", AGENTCOM_REJECT_BACKOFF_S="1"
    )
    token = backend.create_agent("picky")
    agent = await AgentClient(hub, "picky", token).connect()
    ops = backend.operator_token()
    task = await submit(hub, ops)

    first = await agent.recv_type("task_assign", timeout=10)
    await agent.send(
        {"type": "task_rejected", "task_id": task["task_id"], "generation": first["generation"]}
    )
    again = await agent.recv_type("task_assign", timeout=10)

    assert again["task_id"] == task["task_id"]
    assert again["generation"] > first["generation"]
    await agent.close()
