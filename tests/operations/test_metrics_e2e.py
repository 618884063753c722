"""`/metrics` and the logs of a real hub after real work by real sidecars.

A Prometheus text parser reads what the hub serves; the figures must match the work
done. The same run greps every log (hub and sidecars) for every secret it made.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.agents import InstantAgent, wait_until
from tests.e2e.harness import ROOT, SCALED, AgentClient
from tests.e2e.test_sidecar_runs import Fleet, submit_all, wait_all_completed

pytestmark = pytest.mark.e2e

SCRAPE_TOKEN = "scrape-token-" + "q" * 20
JOIN_KEY = "join-key-" + "z" * 24
REPORTS = {"resource_report_delay_ms": 100, "resource_report_interval_ms": 300}


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a scrape, through the real parser."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(hub, token: str = SCRAPE_TOKEN) -> dict:
    status, body = hub.http("GET", "/metrics", token=token)
    assert status == 200, body
    return samples(body)


@pytest.fixture
async def fleets():
    made: list[Fleet] = []
    yield made
    for fleet in made:
        await fleet.stop()


async def test_metrics_count_the_work_and_no_log_holds_a_secret(
    backend, start_hub, fleets, tmp_path
):
    hub = start_hub(
        {
            "AGENTCOM_METRICS_TOKEN": SCRAPE_TOKEN,
            "AGENTCOM_JOIN_KEY": JOIN_KEY,
            "AGENTCOM_LOG_LEVEL": "DEBUG",
        }
    )
    ops = backend.operator_token()
    fleet = Fleet(backend, hub, tmp_path / "agents")
    fleets.append(fleet)
    fleet.start(["metric-a", "metric-b"], **REPORTS)
    await wait_until(lambda: len(hub.http("GET", "/api/agents", token=ops)[1]["agents"]) == 2)

    # Refusals: no token, a wrong join key, a good join key (a token the logs must not show).
    assert (await hub.ahttp("GET", "/api/tasks"))[0] == 401
    wrong = {"agent_id": "intruder", "join_key": "not-the-" + JOIN_KEY}
    assert (await hub.ahttp("POST", "/api/onboard/register", wrong))[0] == 403
    status, joined = await hub.ahttp(
        "POST", "/api/onboard/register", {"agent_id": "joiner", "join_key": JOIN_KEY}
    )
    assert status == 201, joined

    task_ids = await submit_all(hub, ops, [{} for _ in range(4)] + [{"priority": "high"}] * 2)
    await wait_all_completed(hub, ops, task_ids)

    def both_reported() -> bool:
        return value(scrape(hub), "agentcom_fleet_reporting_agents") == 2

    await wait_until(both_reported, timeout=20, interval=0.2)
    found = scrape(hub)

    assert value(found, "agentcom_tasks", status="completed", priority="normal") == 4
    assert value(found, "agentcom_tasks", status="completed", priority="high") == 2
    assert value(found, "agentcom_tasks", status="queued", priority="normal") == 0
    completed = {"event": "completed", "to_status": "completed"}
    assert value(found, "agentcom_task_transitions_total", **completed) == 6
    assert value(found, "agentcom_task_transitions_total", event="queued", to_status="queued") == 6
    assert value(found, "agentcom_dispatch_latency_seconds_count") == 6
    assert value(found, "agentcom_task_accept_seconds_count") == 6
    assert value(found, "agentcom_task_work_seconds_count", outcome="completed") == 6
    assert value(found, "agentcom_agents", state="idle") == 2
    assert value(found, "agentcom_ws_frames_total", direction="in", type="task_complete") == 6
    assert value(found, "agentcom_ws_frames_total", direction="out", type="task_assign") == 6
    assert value(found, "agentcom_ws_frames_total", direction="in", type="resource_report") >= 2
    post_tasks = {"route": "/api/tasks", "method": "POST", "status": "201"}
    assert value(found, "agentcom_http_requests_total", **post_tasks) == 6
    assert value(found, "agentcom_refusals_total", channel="http", code="unauthorized") >= 1
    assert value(found, "agentcom_refusals_total", channel="http", code="invalid_join_key") == 1
    assert value(found, "agentcom_scheduler_pass_seconds_count") >= 1
    assigned = {"event": "assigned", "to_status": "assigned"}
    assert value(found, "agentcom_task_transitions_total", **assigned) == 6
    assert value(found, "agentcom_last_hour_completed") == 6
    assert value(found, "agentcom_last_hour_dispatch_latency_seconds", quantile="0.5") > 0
    assert (
        value(found, "agentcom_fleet_ram_total_bytes")
        > value(found, "agentcom_fleet_ram_used_bytes")
        > 0
    )
    assert not any("task-" in str(labels) for _, labels in found)  # no task id is a label

    # The latest report is on the agent's page of the API too.
    status, state = await hub.ahttp("GET", "/api/agents/metric-a/state", token=ops)
    assert state["resources"]["ram_total_bytes"] > 0

    # A hostile restart reason carrying secrets is logged, masked.
    restarting = await _agent_socket(hub, "joiner", joined["token"])
    await restarting.send(
        {"type": "agent_restarting", "reason": f"key {JOIN_KEY} token {joined['token']}"}
    )
    await wait_until(lambda: "agent restarting" in hub.log(), timeout=10)
    await restarting.close()

    await fleet.stop()
    hub.stop()

    secrets = {
        "operator token": ops,
        "scrape token": SCRAPE_TOKEN,
        "join key": JOIN_KEY,
        "registered token": joined["token"],
        **{f"token of {n}": s.config["token"] for n, s in fleet.sidecars.items()},
    }
    logs = {"hub": hub.log()}
    for name, sidecar in fleet.sidecars.items():
        for path in sidecar.dir.glob("*"):
            if path.suffix in (".log", ".txt") and path.is_file():
                logs[f"{name}/{path.name}"] = path.read_text(errors="replace")
    leaks = [(what, where) for what, s in secrets.items() for where, t in logs.items() if s in t]
    assert leaks == []
    assert "[redacted]" in logs["hub"]  # the hostile reason was masked, not dropped

    lines = [json.loads(line) for line in logs["hub"].splitlines() if line.startswith("{")]
    done = [line for line in lines if line.get("task_event") == "completed"]
    assert len(done) == 6
    assert all(line["agent_id"] in ("metric-a", "metric-b") and line["socket_id"] for line in done)
    submitted = [line for line in lines if line.get("task_event") == "queued"]
    assert all(line.get("request_id") for line in submitted) and len(submitted) == 6


async def _agent_socket(hub, agent_id: str, token: str):
    return await AgentClient(hub, agent_id, token).connect()


def _count_elsewhere(env: dict[str, str], times: int) -> None:
    """Another process on the machine counts into the same directory, then exits."""
    code = (
        "import django,os;os.environ.setdefault('DJANGO_SETTINGS_MODULE','agentcom_site.settings');"
        "django.setup();from agentcom_site.core import metrics;metrics.prepare_process()\n"
        f"for _ in range({times}): metrics.http_request('/api/tasks','POST',201)\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT, timeout=60)


async def test_counters_of_every_process_on_the_machine_are_summed(backend, start_hub, tmp_path):
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {"AGENTCOM_METRICS_TOKEN": SCRAPE_TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    hub = start_hub(env)
    ops = backend.operator_token()
    await submit_all(hub, ops, [{} for _ in range(3)])
    post_tasks = {"route": "/api/tasks", "method": "POST", "status": "201"}
    assert value(scrape(hub), "agentcom_http_requests_total", **post_tasks) == 3

    _count_elsewhere({**hub.env, **env}, times=4)
    assert value(scrape(hub), "agentcom_http_requests_total", **post_tasks) == 7
    assert any(Path(shared).glob("counter_*.db"))


@pytest.mark.skipif(not SCALED, reason="needs Postgres + Redis (the scaled test run)")
async def test_two_hubs_and_a_worker_report_one_sum(backend, start_hub, tmp_path):
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {
        "AGENTCOM_METRICS_TOKEN": SCRAPE_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
        "AGENTCOM_LOG_LEVEL_CHECK_S": "0.2",
    }
    hubs = [start_hub(env, no_scheduler=True), start_hub(env, no_scheduler=True)]
    start_hub(env, worker=True)
    tokens = backend.create_agents(["sum-a", "sum-b"])
    ops = backend.operator_token()
    agents = [
        InstantAgent(await AgentClient(hubs[i], name, tokens[name]).connect()).start()
        for i, name in enumerate(tokens)
    ]
    for i in range(8):
        status, _ = await hubs[i % 2].ahttp("POST", "/api/tasks", {"description": "x"}, ops)
        assert status == 201

    async def all_completed():
        stats = (await hubs[0].ahttp("GET", "/api/tasks/stats", token=ops))[1]
        return stats["by_status"]["completed"] == 8

    await wait_until(all_completed, timeout=30, interval=0.2)
    for agent in agents:
        await agent.stop()

    for hub in hubs:  # either process answers with every process's counts
        found = scrape(hub)
        post_tasks = {"route": "/api/tasks", "method": "POST", "status": "201"}
        assert value(found, "agentcom_http_requests_total", **post_tasks) == 8
        completed = {"event": "completed", "to_status": "completed"}
        assert value(found, "agentcom_task_transitions_total", **completed) == 8
        assert value(found, "agentcom_ws_frames_total", direction="in", type="task_complete") == 8
        assert value(found, "agentcom_tasks", status="completed", priority="normal") == 8

    # A level set through one process reaches the other.
    status, _ = await hubs[0].ahttp("PUT", "/api/admin/log-level", {"level": "WARNING"}, ops)
    assert status == 200

    async def other_took_it() -> bool:
        return (await hubs[1].ahttp("GET", "/api/admin/log-level", token=ops))[1]["level"] == (
            "WARNING"
        )

    await wait_until(other_took_it, timeout=10, interval=0.1)
