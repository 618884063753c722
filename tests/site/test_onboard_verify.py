"""`onboard_agent --verify` end to end: a real hub, the written config, a real sidecar."""

import asyncio
import json
import os
import stat
import subprocess
import sys

import pytest

from tests.e2e.agents import wait_until
from tests.e2e.harness import ROOT, AgentClient
from tests.sidecar.harness import sidecar_env

pytestmark = pytest.mark.e2e


def onboard(backend, hub, agent_id: str, out, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "onboard_agent",
            agent_id,
            "--capabilities",
            "code",
            "--hub-url",
            hub.ws_url,
            "--wake-command",
            f"{sys.executable} -m sidecar.fake_agent --delay 0.2",
            "--out",
            str(out),
            "--verify",
            *extra,
        ],
        env={**os.environ, **backend.env},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def finished(process: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    out, err = await asyncio.to_thread(process.communicate, timeout=timeout)
    return process.returncode, out, err


async def test_verify_passes_when_the_sidecar_completes_its_check(backend, start_hub, tmp_path):
    hub = start_hub()
    out = tmp_path / "onb-1"
    command = onboard(backend, hub, "onb-1", out, "--timeout", "60")
    config_path = out / "config.json"
    await wait_until(config_path.exists, timeout=30)
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
    assert json.loads(config_path.read_text())["hub_url"] == hub.ws_url
    sidecar = subprocess.Popen(
        [sys.executable, "-m", "sidecar", "--config", str(config_path)],
        cwd=out,
        env=sidecar_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        code, stdout, stderr = await finished(command)
    finally:
        sidecar.terminate()
        sidecar.wait(10)
    assert code == 0, stderr
    assert "connected: onb-1" in stdout and "onboarding check passed for onb-1" in stdout
    ops = backend.operator_token()
    tasks = hub.http("GET", "/api/tasks?submitted_by=operator:onboard_agent", token=ops)[1]
    (check,) = tasks["tasks"]
    assert check["status"] == "completed" and check["assigned_to"] == "onb-1"
    assert check["pinned_to"] == "onb-1"


async def test_verify_names_the_step_that_failed(backend, start_hub, tmp_path):
    hub = start_hub()
    code, _, stderr = await finished(
        onboard(backend, hub, "onb-2", tmp_path / "onb-2", "--timeout", "1.5")
    )
    assert code == 1
    assert (
        "onboarding check failed: agent never connected "
        "(the agent is not connected (never); is its sidecar running?)"
    ) in stderr
    assert (tmp_path / "onb-2" / "config.json").exists()
    ops = backend.operator_token()
    (check,) = hub.http("GET", "/api/tasks?submitted_by=operator:onboard_agent", token=ops)[1][
        "tasks"
    ]
    assert check["status"] == "cancelled"  # a failed check leaves nothing in the queue


async def test_verify_names_the_task_a_busy_agent_holds(backend, start_hub, tmp_path):
    hub = start_hub()
    token = backend.create_agent("onb-3")
    agent = await AgentClient(hub, "onb-3", token).connect()
    ops = backend.operator_token()
    _, other = await hub.ahttp(
        "POST", "/api/tasks", {"description": "earlier work", "assign_to": "onb-3"}, ops
    )
    await agent.recv_type("task_assign")

    code, _, stderr = await finished(
        onboard(backend, hub, "onb-3", tmp_path / "onb-3", "--timeout", "1.5")
    )

    assert code == 1
    assert (
        f"onboarding check failed: task not accepted (the agent is busy with {other['task_id']})"
        in stderr
    )
    await agent.close()
