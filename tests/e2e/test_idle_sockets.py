"""A real hub keeps serving while hundreds of sockets sit open without identifying."""

import asyncio

import pytest
import websockets

from tests.e2e.harness import AgentClient

pytestmark = pytest.mark.e2e

PER_ADDRESS = 64
ADDRESSES = [f"127.0.0.{i}" for i in range(2, 7)]  # all of 127/8 is loopback on Linux


async def open_idle(hub, address: str):
    return await websockets.connect(hub.ws_url, local_addr=(address, 0), open_timeout=10)


async def test_idle_sockets_are_capped_per_address_and_agents_still_connect(backend, start_hub):
    hub = start_hub()
    token = backend.create_agent("worker")
    idle = []
    for address in ADDRESSES:
        idle += await asyncio.gather(*(open_idle(hub, address) for _ in range(PER_ADDRESS)))
    assert len(idle) == PER_ADDRESS * len(ADDRESSES)

    with pytest.raises(websockets.InvalidStatus) as refused:
        await open_idle(hub, ADDRESSES[0])
    assert refused.value.response.status_code == 429

    assert (await hub.ahttp("GET", "/health"))[0] == 200
    agent = await AgentClient(hub, "worker", token).connect()
    assert (await agent.ask({"type": "ping"}, "pong"))["type"] == "pong"
    await agent.close()
    await asyncio.gather(*(ws.close() for ws in idle))


async def test_past_the_global_cap_the_upgrade_gets_503(backend, start_hub):
    hub = start_hub(env={"AGENTCOM_MAX_UNIDENTIFIED": "20"})
    idle = [await open_idle(hub, f"127.0.1.{i}") for i in range(20)]
    with pytest.raises(websockets.InvalidStatus) as refused:
        await open_idle(hub, "127.0.1.200")
    assert refused.value.response.status_code == 503
    await idle[0].close()
    for _ in range(50):
        try:
            idle[0] = await open_idle(hub, "127.0.1.200")
            break
        except websockets.InvalidStatus:
            await asyncio.sleep(0.05)
    else:
        raise AssertionError("a closed idle socket never freed its place")
    await asyncio.gather(*(ws.close() for ws in idle))
