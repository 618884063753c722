"""A second hub on the same machine is refused before it touches anything (real processes)."""

import subprocess
import sys

import pytest

from tests.e2e.agents import wait_until
from tests.e2e.harness import ROOT, SCALED, AgentClient, HubProcess

pytestmark = pytest.mark.e2e


def second_runhub(env: dict[str, str], port: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "runhub", "--port", str(port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


@pytest.mark.skipif(SCALED, reason="the data directory lock is the embedded mode's")
async def test_a_second_hub_on_the_same_data_leaves_the_first_serving(backend, start_hub):
    first = start_hub()
    token = backend.create_agent("steady")
    agent = await AgentClient(first, "steady", token).connect()
    ops = backend.operator_token()

    refused = second_runhub(HubProcess(backend).env, port=0)

    assert refused.returncode != 0
    assert f"another hub (pid {first.proc.pid}, {first.url})" in refused.stderr
    status, agents = first.http("GET", "/api/agents", token=ops)
    assert [a["agent_id"] for a in agents["agents"]] == ["steady"]  # still online
    status, answer = await first.ahttp("POST", "/api/tasks", {"description": "still?"}, ops)
    assert status == 201
    assign = await agent.recv_type("task_assign")
    assert assign["task_id"] == answer["task_id"]
    await agent.close()


async def test_a_hub_whose_port_is_taken_exits_before_touching_the_database(
    backend, start_hub, tmp_path
):
    first = start_hub()
    elsewhere = tmp_path / "other-data"
    env = {**HubProcess(backend).env, "AGENTCOM_DATA_DIR": str(elsewhere)}
    env.pop("DATABASE_URL", None)

    refused = second_runhub(env, port=first.port)

    assert refused.returncode != 0
    assert f"cannot listen on 127.0.0.1:{first.port}" in refused.stderr
    assert not (elsewhere / "agentcom.sqlite3").exists()

    async def first_still_healthy():
        return first.http("GET", "/health")[0] == 200

    await wait_until(first_still_healthy, timeout=5)


def test_a_secret_key_another_process_wrote_meanwhile_is_the_one_used(tmp_path, monkeypatch):
    """Hubs and workers starting at once on a new data directory: one of them sees no key,
    another writes it before the first does. The first must use that key, not crash on
    FileExistsError (a scaled chaos run failed to start that way)."""
    from pathlib import Path

    from agentcom_site import settings as hub_settings

    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setattr(hub_settings, "DATA_DIR", tmp_path)
    (tmp_path / "secret_key").write_text("written-by-the-other-process")
    looked = Path.exists
    monkeypatch.setattr(
        Path, "exists", lambda path: path.name != "secret_key" and looked(path)
    )  # the look that came just before the other process wrote it

    assert hub_settings._secret_key() == "written-by-the-other-process"
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no draft left behind
