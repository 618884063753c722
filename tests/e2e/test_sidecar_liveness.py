"""A real hub's stuck reclaim against the sidecar's keepalive, with real sidecar processes.

The keepalive holds off the hub's stuck reclaim only while the agent is alive: the task
of an agent that died comes back to the queue, the task of one that works on is kept.
"""

import asyncio

import pytest

from tests.e2e.agents import wait_until
from tests.sidecar.harness import PYTHON, SidecarProcess, fast_config

pytestmark = pytest.mark.e2e

# The hub reclaims a task after 1.2 s without activity; a sidecar sends a keepalive every
# 0.15 s while its agent showed a sign of life within the last 0.5 s.
STUCK_ENV = {"AGENTCOM_SWEEP_INTERVAL_S": "0.1", "AGENTCOM_STUCK_AFTER_S": "1.2"}
KEEPALIVE = {"progress_interval_ms": 150, "alive_window_ms": 500}
WAKES = {
    # Confirms the task, then exits without a word.
    "mute": f"{PYTHON} -m sidecar.fake_agent --delay 0 --outcome none",
    # Confirms, then works silently in the foreground of its wake command for 2.5 s.
    "busy": f"{PYTHON} -m sidecar.fake_agent --foreground --delay 2.5",
}


async def test_stuck_reclaim_takes_back_only_the_task_whose_agent_died(
    backend, start_hub, tmp_path
):
    hub, ops, tokens = await asyncio.gather(
        asyncio.to_thread(start_hub, STUCK_ENV),
        asyncio.to_thread(backend.operator_token),
        asyncio.to_thread(backend.create_agents, list(WAKES)),
    )
    sidecars = []
    for name, wake in WAKES.items():
        (tmp_path / name).mkdir()
        config = fast_config(hub.ws_url, agent_id=name, token=tokens[name], wake_command=wake)
        sidecars.append(SidecarProcess(tmp_path / name, {**config, **KEEPALIVE}).start())
    task_ids = {}
    for name in WAKES:
        body = {"description": f"work for {name}", "assign_to": name}
        status, answer = await hub.ahttp("POST", "/api/tasks", body, ops)
        assert status == 201, answer
        task_ids[name] = answer["task_id"]

    async def record(name: str) -> dict:
        return (await hub.ahttp("GET", f"/api/tasks/{task_ids[name]}", token=ops))[1]

    async def settled() -> bool:
        mute, busy = await record("mute"), await record("busy")
        mute_reclaimed = any(
            h["event"] == "reclaimed" and h["details"] == "stuck" for h in mute["history"]
        )
        return mute_reclaimed and busy["status"] == "completed"

    try:
        await wait_until(settled, timeout=15, interval=0.2)
        busy = await record("busy")
        assert "reclaimed" not in [h["event"] for h in busy["history"]]
    finally:
        for sidecar in sidecars:
            await sidecar.stop()
