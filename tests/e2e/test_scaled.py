"""Scaled mode: two ASGI processes and two `schedule` workers sharing Postgres and Redis."""

import asyncio
from collections import Counter, defaultdict

import pytest

from tests.e2e.agents import InstantAgent, wait_until
from tests.e2e.harness import SCALED, AgentClient

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not SCALED, reason="needs Postgres + Redis (the scaled test run)"),
]

AGENTS = 30
# Enough for every agent to take work from both hubs many times over (12 each on
# average), few enough to finish well within half the test's timeout on a loaded machine
# (the suite runs two test files at once).
TASKS = 360
PER_SUBMITTER = 20
RELEASES = ("completed", "reclaimed", "rejected", "retry", "dead_letter", "cancelled")


def audit_rows(backend) -> list[tuple]:
    import psycopg

    url = backend.env["DATABASE_URL"]
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT task_id, event, agent_id, created_at FROM tasks_taskevent"
            " ORDER BY created_at, id"
        ).fetchall()


async def test_two_hubs_two_workers_every_task_once_no_double_booking(backend, start_hub):
    hubs = [start_hub(no_scheduler=True), start_hub(no_scheduler=True)]
    workers = [start_hub(worker=True), start_hub(worker=True)]
    names = [f"fleet-{i:02d}" for i in range(AGENTS)]
    tokens = backend.create_agents(names)
    ops = backend.operator_token()
    agents = [
        InstantAgent(await AgentClient(hubs[i % 2], name, tokens[name]).connect()).start()
        for i, name in enumerate(names)
    ]

    async def submit_batch(offset: int) -> None:
        hub = hubs[offset % 2]
        for _ in range(PER_SUBMITTER):
            status, _ = await hub.ahttp("POST", "/api/tasks", {"description": "tiny"}, ops)
            assert status == 201

    await asyncio.gather(*(submit_batch(i) for i in range(TASKS // PER_SUBMITTER)))

    async def all_completed():
        stats = (await hubs[0].ahttp("GET", "/api/tasks/stats", token=ops))[1]
        return stats["by_status"]["completed"] == TASKS

    await wait_until(all_completed, timeout=50, interval=0.5)
    for agent in agents:
        await agent.stop()

    rows = audit_rows(backend)
    completed = Counter(task for task, event, _, _ in rows if event == "completed")
    assert len(completed) == TASKS and set(completed.values()) == {1}
    held: dict[str, str | None] = defaultdict(lambda: None)
    for task, event, agent_id, _ in rows:
        if event == "assigned":
            assert held[agent_id] is None, f"{agent_id} got {task} while holding {held[agent_id]}"
            held[agent_id] = task
        elif event in RELEASES and agent_id and held[agent_id] == task:
            held[agent_id] = None
    per_agent = Counter(agent_id for _, event, agent_id, _ in rows if event == "completed")
    assert len(per_agent) == AGENTS  # every agent did work
    for worker in workers:
        assert worker.stop() == 0  # SIGTERM finishes the current step and exits cleanly
    print(
        f"scaled: {TASKS} tasks over {AGENTS} agents, "
        f"per agent min={min(per_agent.values())} max={max(per_agent.values())}"
    )
