"""A real hub process, real WebSocket agents: dispatch, routing, spread, recovery, fencing."""

import asyncio
import time

import pytest
import websockets

from tests.e2e.agents import InstantAgent, wait_until
from tests.e2e.harness import AgentClient

pytestmark = pytest.mark.e2e

FAST_TIMERS = {
    "AGENTCOM_SWEEP_INTERVAL_S": "0.2",
    "AGENTCOM_RECONNECT_GRACE_S": "1",
    "AGENTCOM_ACCEPT_TIMEOUT_S": "1",
}


async def submit(hub, token, **body):
    status, answer = await hub.ahttp("POST", "/api/tasks", {"description": "work", **body}, token)
    assert status == 201, answer
    return answer["task_id"]


def agent_state(hub, token, agent_id: str) -> str:
    return hub.http("GET", f"/api/agents/{agent_id}/state", token=token)[1]["fsm_state"]


async def task_status(hub, token, task_id):
    return (await hub.ahttp("GET", f"/api/tasks/{task_id}", token=token))[1]


async def test_assignment_follows_submission_at_once(backend, start_hub):
    hub = start_hub()
    token = backend.create_agent("solo", ["code"])
    agent = await AgentClient(hub, "solo", token, ["code"]).connect()
    started = time.perf_counter()
    task_id = await submit(hub, token)
    frame = await agent.recv_type("task_assign", timeout=5)
    latency_ms = (time.perf_counter() - started) * 1000
    assert frame["task_id"] == task_id and frame["generation"] == 1
    assert isinstance(frame["assigned_at"], int) and frame["metadata"] == {}
    print(f"submit -> task_assign: {latency_ms:.1f} ms")
    assert (await agent.ask({"type": "task_accepted", "task_id": task_id}, "task_ack"))[
        "status"
    ] == "accepted"
    done = await agent.ask(
        {
            "type": "task_complete",
            "task_id": task_id,
            "generation": 1,
            "result": {"tokens_used": 3},
        },
        "task_ack",
    )
    assert done == {"type": "task_ack", "task_id": task_id, "status": "complete"}
    record = await task_status(hub, token, task_id)
    assert record["status"] == "completed" and record["tokens_used"] == 3
    assert [h["event"] for h in record["history"]] == [
        "completed",
        "accepted",
        "assigned",
        "queued",
    ]
    await agent.close()


async def test_priority_then_capability_routing(backend, start_hub):
    hub = start_hub()
    tokens = backend.create_agents(["py", "web"])
    ops = backend.operator_token()
    low = await submit(hub, ops, priority="low", needed_capabilities=["python"])
    urgent = await submit(hub, ops, priority="urgent", needed_capabilities=["python"])
    web_task = await submit(hub, ops, needed_capabilities=["js"])
    py = await AgentClient(hub, "py", tokens["py"], ["python", "code"]).connect()
    web = await AgentClient(hub, "web", tokens["web"], ["js"]).connect()
    first = await py.recv_type("task_assign")
    assert first["task_id"] == urgent  # the urgent lane first, though submitted later
    assert (await web.recv_type("task_assign"))["task_id"] == web_task
    await py.send({"type": "task_accepted", "task_id": urgent})
    await py.ask(
        {"type": "task_complete", "task_id": urgent, "generation": first["generation"]}, "task_ack"
    )
    assert (await py.recv_type("task_assign"))["task_id"] == low
    await py.close()
    await web.close()


async def test_work_spreads_evenly_across_agents(backend, start_hub):
    hub = start_hub()
    names = [f"spread-{i}" for i in range(4)]
    tokens = backend.create_agents(names)
    ops = backend.operator_token()
    agents = [
        InstantAgent(await AgentClient(hub, n, tokens[n]).connect(), delay=0.05).start()
        for n in names
    ]
    task_ids = [await submit(hub, ops) for _ in range(20)]
    await wait_until(lambda: sum(len(a.completed) for a in agents) == 20, timeout=30)
    counts = [len(a.completed) for a in agents]
    assert sorted(t for a in agents for t in a.completed) == sorted(task_ids)
    assert all(3 <= c <= 7 for c in counts), counts
    for agent in agents:
        await agent.stop()


async def test_rejected_task_goes_to_another_agent(backend, start_hub):
    hub = start_hub()
    tokens = backend.create_agents(["picky", "willing"])
    ops = backend.operator_token()
    picky = await AgentClient(hub, "picky", tokens["picky"]).connect()
    task_id = await submit(hub, ops)
    offered = await picky.recv_type("task_assign")
    willing = await AgentClient(hub, "willing", tokens["willing"]).connect()
    ack = await picky.ask(
        {"type": "task_rejected", "task_id": task_id, "reason": "not my kind"}, "task_ack"
    )
    assert ack["status"] == "rejected"
    again = await willing.recv_type("task_assign")
    assert again["task_id"] == task_id and again["generation"] > offered["generation"]
    record = await task_status(hub, ops, task_id)
    assert record["rejected_by"] == ["picky"] and record["retry_count"] == 0
    await picky.close()
    await willing.close()


async def test_disconnect_reclaims_after_grace_and_reschedules(backend, start_hub):
    hub = start_hub(FAST_TIMERS)
    tokens = backend.create_agents(["dropper", "backup"])
    ops = backend.operator_token()
    dropper = await AgentClient(hub, "dropper", tokens["dropper"]).connect()
    task_id = await submit(hub, ops)
    await dropper.recv_type("task_assign")
    await dropper.ask({"type": "task_accepted", "task_id": task_id}, "task_ack")
    await dropper.close()
    await wait_until(lambda: agent_state(hub, ops, "dropper") == "offline", timeout=10)
    backup = await AgentClient(hub, "backup", tokens["backup"]).connect()
    frame = await backup.recv_type("task_assign", timeout=10)
    assert frame["task_id"] == task_id
    record = await task_status(hub, ops, task_id)
    reclaimed = [h for h in record["history"] if h["event"] == "reclaimed"]
    assert reclaimed and reclaimed[0]["details"] == "agent_disconnect"
    await backup.close()


async def test_reconnect_within_grace_continues_and_completes_once(backend, start_hub):
    hub = start_hub({**FAST_TIMERS, "AGENTCOM_RECONNECT_GRACE_S": "30"})
    token = backend.create_agent("phoenix")
    ops = backend.operator_token()
    agent = await AgentClient(hub, "phoenix", token).connect()
    task_id = await submit(hub, ops)
    assign = await agent.recv_type("task_assign")
    await agent.ask({"type": "task_accepted", "task_id": task_id}, "task_ack")
    await agent.close()
    agent = await AgentClient(hub, "phoenix", token).connect()
    cont = await agent.ask(
        {"type": "task_recovering", "task_id": task_id, "last_status": "working"},
        "task_continue",
        "task_reassign",
    )
    assert cont == {"type": "task_continue", "task_id": task_id, "generation": assign["generation"]}
    await agent.ask(
        {"type": "task_complete", "task_id": task_id, "generation": cont["generation"]}, "task_ack"
    )
    record = await task_status(hub, ops, task_id)
    events = [h["event"] for h in record["history"]]
    assert record["status"] == "completed" and events.count("completed") == 1
    assert "continued" in events and "reclaimed" not in events
    await agent.close()


async def test_acceptance_timeout_reclaims_and_flags(backend, start_hub):
    hub = start_hub(FAST_TIMERS)
    tokens = backend.create_agents(["sleepy", "awake"])
    ops = backend.operator_token()
    sleepy = await AgentClient(hub, "sleepy", tokens["sleepy"]).connect()
    task_id = await submit(hub, ops)
    await sleepy.recv_type("task_assign")
    cancelled = await sleepy.recv_type("task_cancelled", timeout=10)
    assert cancelled["task_id"] == task_id and cancelled["reason"] == "acceptance_timeout"
    state = (await hub.ahttp("GET", "/api/agents/sleepy/state", token=ops))[1]
    assert "unresponsive" in state["flags"]
    record = await task_status(hub, ops, task_id)
    assert record["history"][0]["event"] in ("reclaimed", "assigned")
    assert any(h["details"] == "acceptance_timeout" for h in record["history"])
    await sleepy.close()


async def test_stale_and_foreign_updates_are_refused(backend, start_hub):
    hub = start_hub()
    tokens = backend.create_agents(["owner", "thief"])
    ops = backend.operator_token()
    owner = await AgentClient(hub, "owner", tokens["owner"]).connect()
    task_id = await submit(hub, ops)
    assign = await owner.recv_type("task_assign")
    thief = await AgentClient(hub, "thief", tokens["thief"]).connect()
    refused = await thief.ask(
        {"type": "task_complete", "task_id": task_id, "generation": assign["generation"]}, "error"
    )
    assert (
        refused["error"] == "task_complete_failed: not_assignee" and refused["task_id"] == task_id
    )
    stale = await owner.ask(
        {"type": "task_complete", "task_id": task_id, "generation": 99}, "error"
    )
    assert stale["error"] == "task_complete_failed: stale_generation"
    unknown = await owner.ask(
        {"type": "task_failed", "task_id": "task-0000000000000000", "generation": 1}, "error"
    )
    assert unknown["error"] == "task_fail_failed: not_found"
    record = await task_status(hub, ops, task_id)
    assert record["status"] == "assigned" and record["result"] is None
    await owner.close()
    await thief.close()


async def test_hub_killed_mid_run_loses_nothing(backend, start_hub):
    env = {**FAST_TIMERS, "AGENTCOM_RECONNECT_GRACE_S": "1"}
    hub = start_hub(env)
    names = [f"steady-{i}" for i in range(3)]
    tokens = backend.create_agents(names)
    ops = backend.operator_token()
    task_ids = [await submit(hub, ops) for _ in range(30)]
    agents = [
        InstantAgent(await AgentClient(hub, n, tokens[n]).connect(), delay=0.1).start()
        for n in names
    ]
    await wait_until(lambda: sum(len(a.completed) for a in agents) >= 5, timeout=30)
    hub.kill()
    for agent in agents:
        await agent.stop()
    hub.start()  # same backend, same port
    agents = [InstantAgent(await AgentClient(hub, n, tokens[n]).connect()).start() for n in names]

    async def all_done():
        listed = (await hub.ahttp("GET", "/api/tasks?limit=200", token=ops))[1]["tasks"]
        return all(t["status"] == "completed" for t in listed)

    await wait_until(all_done, timeout=60)
    for task_id in task_ids:
        record = await task_status(hub, ops, task_id)
        assert [h["event"] for h in record["history"]].count("completed") == 1, record["history"]
    for agent in agents:
        await agent.stop()


async def test_silent_socket_is_closed_4002_and_pinging_one_is_kept(backend, start_hub):
    hub = start_hub({"AGENTCOM_PING_TTL_S": "1"})
    tokens = backend.create_agents(["silent", "chatty"])
    silent = await AgentClient(hub, "silent", tokens["silent"]).connect()
    chatty = await AgentClient(hub, "chatty", tokens["chatty"]).connect()

    done = asyncio.Event()  # not cancel(): 3.11's wait_for may drop it as a pong arrives

    async def keep_pinging():
        while not done.is_set():
            await chatty.ask({"type": "ping"}, "pong")
            await asyncio.sleep(0.3)

    pinger = asyncio.create_task(keep_pinging())
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await silent.recv_type("never", timeout=10)
    assert closed.value.rcvd.code == 4002
    await wait_until(lambda: agent_state(hub, tokens["chatty"], "silent") == "offline", timeout=10)
    assert not pinger.done()  # the pinging socket is still open
    done.set()
    await pinger
    state = (await hub.ahttp("GET", "/api/agents/chatty/state", token=tokens["chatty"]))[1]
    assert state["fsm_state"] == "idle"
    await chatty.close()


async def test_revoked_token_closes_the_socket_4003(backend, start_hub):
    hub = start_hub()
    token = backend.create_agent("revokee")
    agent = await AgentClient(hub, "revokee", token).connect()
    status, body = await hub.ahttp("DELETE", "/admin/tokens/revokee", token=token)
    assert status == 200 and body["revoked"] == 1
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await agent.recv_type("never", timeout=10)
    assert closed.value.rcvd.code == 4003
    retry = await AgentClient(hub, "revokee", token).connect(identify=False)
    refused = await retry.ask({"type": "identify", "agent_id": "revokee", "token": token}, "error")
    assert refused["error"] == "invalid_token"
    await retry.close()


async def test_hub_shutdown_closes_sockets_with_1000(backend, start_hub):
    hub = start_hub()
    token = backend.create_agent("witness")
    agent = await AgentClient(hub, "witness", token).connect()
    stopping = asyncio.create_task(asyncio.to_thread(hub.stop))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await agent.recv_type("never", timeout=10)
    assert closed.value.rcvd.code == 1000  # daphne sends the code without the reason text
    assert await stopping == 0


async def test_a_stopping_hub_binds_no_agent_that_reconnects_to_it(backend, start_hub):
    """A sidecar reconnects ~0.1 s after the 1000 `shutdown`, while the old process is
    still exiting. Bound there, the agent would look online and could be assigned a task
    whose frame dies with the process (then waiting out the whole reconnect grace)."""
    hub = start_hub()
    token = backend.create_agent("witness")
    agent = await AgentClient(hub, "witness", token).connect()
    stopping = asyncio.create_task(asyncio.to_thread(hub.stop))
    with pytest.raises(websockets.ConnectionClosed):
        await agent.recv_type("never", timeout=10)
    outcomes: list[object] = []
    while not stopping.done():  # reconnect at once, again and again, until it has exited
        try:
            await AgentClient(hub, "witness", token).connect()
            outcomes.append("bound")
        except websockets.InvalidStatus as refused:
            outcomes.append(refused.response.status_code)
        except (OSError, websockets.ConnectionClosed, websockets.InvalidMessage):
            outcomes.append("gone")
            await asyncio.sleep(0.01)  # nothing listens any more; the stop is ending
    assert await stopping == 0
    assert "bound" not in outcomes, outcomes
    assert 503 in outcomes, outcomes  # the window was tried, and refused


async def test_an_agent_idle_past_the_layer_read_timeout_still_gets_work(backend, start_hub):
    """channels-redis waits 5 s per receive: a socket idle longer must survive it."""
    hub = start_hub()
    token = backend.create_agent("patient")
    ops = backend.operator_token()
    agent = await AgentClient(hub, "patient", token).connect()
    await asyncio.sleep(7)  # the idle time is the condition under test, not a wait
    task_id = await submit(hub, ops)
    assert (await agent.recv_type("task_assign", timeout=5))["task_id"] == task_id
    await agent.close()


async def test_a_task_submitted_by_another_process_is_dispatched_without_the_sweep(
    backend, start_hub
):
    # With the sweep an hour away, only noticing the other process's commit can place it.
    hub = start_hub({"AGENTCOM_SWEEP_INTERVAL_S": "3600"})
    token = backend.create_agent("listener")
    agent = await AgentClient(hub, "listener", token).connect()

    backend.manage(
        "shell",
        "-c",
        "from tasks import queue; "
        "queue.submit_task(description='from a command', submitted_by='operator:cli')",
    )

    assign = await agent.recv_type("task_assign", timeout=10)
    assert assign["description"] == "from a command"
    await agent.close()
