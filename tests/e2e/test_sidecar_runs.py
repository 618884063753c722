"""The runs that prove the pipeline: a real hub, real sidecar processes, the fake agent."""

import asyncio
import statistics
from pathlib import Path

import pytest

from tests.e2e.agents import wait_until
from tests.e2e.harness import SCALED
from tests.sidecar.harness import SidecarProcess, fast_config

pytestmark = pytest.mark.e2e

GRACE_ENV = {"AGENTCOM_SWEEP_INTERVAL_S": "0.2", "AGENTCOM_RECONNECT_GRACE_S": "1"}


class Fleet:
    """Sidecars of one test, each in its own directory with its own agent token."""

    def __init__(self, backend, hub, workdir: Path) -> None:
        self.backend = backend
        self.hub = hub
        self.workdir = workdir
        self.sidecars: dict[str, SidecarProcess] = {}

    def start(self, names: list[str], delay: float = 0.3, **overrides) -> None:
        tokens = self.backend.create_agents(names)
        for name in names:
            directory = self.workdir / name
            directory.mkdir(parents=True, exist_ok=True)
            config = fast_config(self.hub.ws_url, agent_id=name, token=tokens[name], **overrides)
            config["wake_command"] = config["wake_command"].replace(
                "--delay 0.3", f"--delay {delay}"
            )
            self.sidecars[name] = SidecarProcess(directory, config).start()

    def wakes(self, name: str) -> int:
        counter = self.sidecars[name].dir / "wakes.txt"
        return len(counter.read_text().split()) if counter.exists() else 0

    async def stop(self) -> None:
        for sidecar in self.sidecars.values():
            if sidecar.process and sidecar.process.poll() is None:
                await sidecar.stop()


@pytest.fixture
async def fleet(backend, tmp_path):
    fleets: list[Fleet] = []

    def make(hub) -> Fleet:
        fleets.append(Fleet(backend, hub, tmp_path / "agents"))
        return fleets[-1]

    yield make
    for each in fleets:
        await each.stop()


async def submit_all(hub, token, bodies: list[dict]) -> list[str]:
    ids = []
    for body in bodies:
        status, answer = await hub.ahttp(
            "POST", "/api/tasks", {"description": "demo work", **body}, token
        )
        assert status == 201, answer
        ids.append(answer["task_id"])
    return ids


async def records(hub, token, task_ids: list[str]) -> list[dict]:
    return [(await hub.ahttp("GET", f"/api/tasks/{t}", token=token))[1] for t in task_ids]


async def wait_all_completed(hub, token, task_ids, timeout: float = 60) -> list[dict]:
    async def statuses():
        return {r["task_id"]: r["status"] for r in await records(hub, token, task_ids)}

    async def all_completed():
        return set((await statuses()).values()) == {"completed"}

    await wait_until(all_completed, timeout=timeout, interval=0.2, seen=statuses)
    return await records(hub, token, task_ids)


def assignment_latency_ms(record: dict) -> float:
    first = min(h["timestamp"] for h in record["history"] if h["event"] == "assigned")
    return first - record["created_at"]


def completions(record: dict) -> int:
    return [h["event"] for h in record["history"]].count("completed")


async def test_smoke_two_agents_ten_tasks(backend, start_hub, fleet):
    hub = start_hub()
    ops = backend.operator_token()
    agents = fleet(hub)
    agents.start(["smoke-a", "smoke-b"])
    await wait_until(lambda: hub.http("GET", "/api/agents", token=ops)[1]["agents"].__len__() == 2)
    task_ids = await submit_all(hub, ops, [{} for _ in range(10)])
    done = await wait_all_completed(hub, ops, task_ids)
    latencies = sorted(assignment_latency_ms(r) for r in done)
    assert all(latency <= 5000 for latency in latencies), latencies
    assert {r["assigned_to"] for r in done} == {"smoke-a", "smoke-b"}
    assert all(completions(r) == 1 for r in done)
    assert all(r["result"]["status"] == "success" for r in done)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"smoke: assignment latency p50={statistics.median(latencies):.0f} ms p95={p95:.0f} ms")


async def test_failure_killed_sidecar_task_completes_on_the_other(backend, start_hub, fleet):
    hub = start_hub(GRACE_ENV)
    ops = backend.operator_token()
    agents = fleet(hub)
    agents.start(["doomed"], delay=30)  # would take 30 s: it is killed long before
    (task_id,) = await submit_all(hub, ops, [{}])
    doomed = agents.sidecars["doomed"]
    await doomed.wait_for_status("working", timeout=15)
    doomed.kill()
    agents.start(["survivor"], delay=0.2)
    (record,) = await wait_all_completed(hub, ops, [task_id], timeout=30)
    assert record["assigned_to"] == "survivor" and completions(record) == 1
    events = [h["event"] for h in reversed(record["history"])]
    assert events.index("reclaimed") < events.index("completed")


async def test_spread_four_agents_twenty_tasks(backend, start_hub, fleet):
    hub = start_hub()
    ops = backend.operator_token()
    lanes = ["urgent"] * 4 + ["high"] * 4 + ["normal"] * 8 + ["low"] * 4
    task_ids = await submit_all(hub, ops, [{"priority": lane} for lane in reversed(lanes)])
    agents = fleet(hub)
    agents.start([f"spread-{i}" for i in range(4)], delay=0.3)
    done = await wait_all_completed(hub, ops, task_ids, timeout=90)
    counts = {name: sum(1 for r in done if r["assigned_to"] == name) for name in agents.sidecars}
    assert all(3 <= n <= 7 for n in counts.values()), counts

    def mean_assigned_at(priority: int) -> float:
        return statistics.mean(
            min(h["timestamp"] for h in r["history"] if h["event"] == "assigned")
            for r in done
            if r["priority"] == priority
        )

    assert mean_assigned_at(0) <= mean_assigned_at(3)
    print(f"spread: tasks per agent {sorted(counts.values())}")


async def test_sidecar_restart_within_grace_continues_on_the_same_agent(backend, start_hub, fleet):
    hub = start_hub({"AGENTCOM_SWEEP_INTERVAL_S": "0.2", "AGENTCOM_RECONNECT_GRACE_S": "30"})
    ops = backend.operator_token()
    agents = fleet(hub)
    agents.start(["phoenix"], delay=3)
    agents.start(["bystander"], delay=0.1)
    (task_id,) = await submit_all(hub, ops, [{"assign_to": "phoenix"}])
    phoenix = agents.sidecars["phoenix"]
    await phoenix.wait_for_status("working", timeout=15)
    phoenix.kill()
    phoenix.start()  # the fake agent keeps running and writes its result meanwhile
    (record,) = await wait_all_completed(hub, ops, [task_id], timeout=30)
    assert record["assigned_to"] == "phoenix" and completions(record) == 1
    assert "continued" in [h["event"] for h in record["history"]]
    assert "reclaimed" not in [h["event"] for h in record["history"]]
    assert agents.wakes("phoenix") == 1 and agents.wakes("bystander") == 0


async def test_hub_restart_mid_run_every_task_completed_once(backend, start_hub, fleet):
    hub = start_hub(GRACE_ENV)
    ops = backend.operator_token()
    agents = fleet(hub)
    agents.start(["steady-a", "steady-b"], delay=0.5)
    task_ids = await submit_all(hub, ops, [{} for _ in range(8)])

    async def some_completed():
        return any(r["status"] == "completed" for r in await records(hub, ops, task_ids))

    await wait_until(some_completed, timeout=30, interval=0.1)
    hub.kill()
    await asyncio.sleep(1)  # results land while the hub is down; sidecars keep them
    hub.start()
    done = await wait_all_completed(hub, ops, task_ids, timeout=90)
    assert all(completions(r) == 1 for r in done), [r["history"] for r in done]


async def test_zero_loss_upgrade_restarts_the_hub_under_working_agents(backend, start_hub, fleet):
    """docs/RELIABILITY.md's upgrade: SIGTERM the hub (sockets close with 1000), start the
    new one on the same port; sidecars reconnect, held tasks continue within the grace."""
    env = {"AGENTCOM_RECONNECT_GRACE_S": "30", "AGENTCOM_SWEEP_INTERVAL_S": "0.5"}
    hub = start_hub(env, no_scheduler=SCALED)
    if SCALED:
        start_hub(env, worker=True)
    ops = backend.operator_token()
    agents = fleet(hub)
    agents.start(["up-a", "up-b"], delay=2)
    task_ids = await submit_all(hub, ops, [{} for _ in range(4)])
    await agents.sidecars["up-a"].wait_for_status("working", timeout=15)

    assert hub.stop() == 0  # the old version leaves: every socket closed with 1000
    hub.start()  # the new version, same port and data

    done = await wait_all_completed(hub, ops, task_ids, timeout=60)
    histories = [r["history"] for r in done]
    assert all(completions(r) == 1 for r in done), histories
    # Held work stayed with its holder: it either continued on the new hub or its result,
    # finished while no hub was up, was resent and accepted there. Nothing was reassigned.
    assigned = [sum(h["repeats"] for h in r["history"] if h["event"] == "assigned") for r in done]
    assert assigned == [1] * len(task_ids), histories
