"""How sockets end on a real hub process: close codes daphne can send, and a SIGKILLed
process whose agents another process sets offline within seconds."""

import json
import sqlite3
import time

import pytest
import websockets

from tests.e2e.agents import wait_until
from tests.e2e.harness import AgentClient

pytestmark = pytest.mark.e2e


async def connected(hub, token) -> list[str]:
    status, body = await hub.ahttp("GET", "/api/agents", token=token)
    assert status == 200
    return [agent["agent_id"] for agent in body["agents"]]


async def test_strikes_close_with_4008_and_the_agent_goes_offline(backend, start_hub):
    hub = start_hub()
    token = backend.create_agent("striker")
    ops = backend.operator_token()
    client = await AgentClient(hub, "striker", token).connect()
    for _ in range(10):
        await client.send({"type": "status"})
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await client.recv()
    assert client.ws.close_code == 4008 and client.ws.close_reason == "too many validation errors"
    await wait_until(lambda: _none_connected(hub, ops), timeout=5, interval=0.1)
    assert "Traceback" not in hub.log()


async def test_a_frame_over_the_limit_closes_with_4009(backend, start_hub):
    hub = start_hub()
    token = backend.create_agent("big")
    ops = backend.operator_token()
    client = await AgentClient(hub, "big", token).connect()
    # The hub may close while the frame is still being sent: then the send raises.
    with pytest.raises(websockets.ConnectionClosed):
        await client.send(json.dumps({"type": "status", "status": "x" * (5 * 1024 * 1024)}))
        while True:
            await client.recv()
    assert client.ws.close_code == 4009 and client.ws.close_reason == "frame too large"
    await wait_until(lambda: _none_connected(hub, ops), timeout=5, interval=0.1)
    assert (await hub.ahttp("GET", "/health"))[0] == 200


def online_count(backend) -> int:
    """Read straight from the database: the killed process cannot answer."""
    query = "SELECT COUNT(*) FROM agents_agent WHERE state <> 'offline'"
    if backend.database:
        import psycopg

        with psycopg.connect(backend.env["DATABASE_URL"]) as conn:
            return conn.execute(query).fetchone()[0]
    with sqlite3.connect(backend.data_dir / "agentcom.sqlite3") as conn:
        return conn.execute(query).fetchone()[0]


async def _none_connected(hub, ops) -> bool:
    return await connected(hub, ops) == []


async def test_a_killed_hub_process_agents_go_offline_within_seconds(backend, start_hub):
    # Two processes on one database, as in the scaled mode: sockets, and a worker.
    hub = start_hub(no_scheduler=True)
    worker = start_hub(worker=True)
    tokens = backend.create_agents(["kept-a", "kept-b"])
    ops = backend.operator_token()
    clients = [await AgentClient(hub, name, tokens[name]).connect() for name in tokens]
    assert sorted(await connected(hub, ops)) == ["kept-a", "kept-b"]

    hub.kill()
    killed_at = time.monotonic()

    def all_offline() -> bool:
        return online_count(backend) == 0

    await wait_until(all_offline, timeout=15, interval=0.1)
    elapsed = time.monotonic() - killed_at
    assert elapsed < 10, f"offline only after {elapsed:.1f}s"

    # Whichever net caught them first: the dead process's missing heartbeat, or (on a
    # loaded machine) the sweep's silent-agent expiry. Each logs just after its commit,
    # which the poll above may have seen first.
    def told() -> bool:
        log = worker.log()
        return "agents of a dead hub process set offline" in log or "silent_agents=['kept" in log

    await wait_until(told, timeout=5, interval=0.1, seen=worker.log)
    for client in clients:
        await client.close()
