"""`runhub --demo`: agents appear, tasks flow, the login works, the sidecars die with the hub,
and all of it happens in a data directory of its own that never touches the operator's."""

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.agents import wait_until
from tests.e2e.harness import ROOT, free_port
from tests.sidecar.harness import pid_alive
from tests.site.pages import log_in

pytestmark = pytest.mark.e2e


def sidecar_children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"-m sidecar" in cmdline:
            found.append(int(entry.name))
    return found


def demo_env(data_dir: Path) -> dict[str, str]:
    """What a command needs to reach the demo hub's database (never DATABASE_URL's)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return {**env, "AGENTCOM_DATA_DIR": str(data_dir)}


def agent_ids(env: dict[str, str]) -> set[str]:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "shell",
            "--no-imports",
            "-c",
            "from agents.models import Agent; print(*Agent.objects.values_list('agent_id', "
            "flat=True))",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=True,
    )
    return set(result.stdout.split())


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill"])
async def test_demo_runs_and_its_sidecars_stop_with_the_hub(backend, tmp_path, stop_signal):
    # The operator's own hub data: an agent, and something left by an earlier demo.
    backend.create_agent("real-agent", ["code"])
    demo_dir = backend.data_dir / "demo"
    demo_dir.mkdir()
    (demo_dir / "left-from-last-demo").write_text("x")
    port = free_port()
    log_path = tmp_path / "demo.log"
    with open(log_path, "wb") as log:
        hub = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "runhub", "--port", str(port), "--demo"],
            env={**os.environ, **backend.env, "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    children: list[int] = []
    try:
        await wait_until(lambda: "AgentCom hub listening" in log_path.read_text(), timeout=30)
        login = re.search(r"Log in as (\S+) with password (\S+)", log_path.read_text())
        assert login, log_path.read_text()
        assert f"Data: {demo_dir} (emptied on each demo start" in log_path.read_text()
        assert not (demo_dir / "left-from-last-demo").exists()
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "create_operator_token", "demo-ops"],
            env=demo_env(demo_dir),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            check=True,
        )
        ops = result.stdout.strip()
        base = f"http://127.0.0.1:{port}"

        def state() -> dict:
            request = urllib.request.Request(f"{base}/api/dashboard/state")
            request.add_header("Authorization", f"Bearer {ops}")
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())

        def flowing() -> bool:
            current = state()
            online = {a["agent_id"] for a in current["agents"] if a["fsm_state"] != "offline"}
            done = current["queue"]["by_status"]["completed"]
            return online == {"demo-alpha", "demo-beta"} and done >= 1

        await wait_until(flowing, timeout=45, interval=0.5)
        assert {a["agent_id"] for a in state()["agents"]} == {"demo-alpha", "demo-beta"}
        assert 'id="snapshot"' in log_in(base, *login.groups())[1]
        # The demo's agents report what their results cost, so the cost panel has figures.
        request = urllib.request.Request(f"{base}/api/costs")
        request.add_header("Authorization", f"Bearer {ops}")
        with urllib.request.urlopen(request, timeout=10) as response:
            costs = json.loads(response.read())
        assert costs["totals"]["cost_usd"] > 0, costs
        children += sidecar_children(hub.pid)
        assert len(children) == 2
        configs = sorted(p.parent.name for p in (demo_dir / "sidecars").glob("*/config.json"))
        assert configs == ["demo-alpha", "demo-beta"]
        # The operator's database saw none of it.
        assert agent_ids({**os.environ, **backend.env}) == {"real-agent"}

        hub.send_signal(stop_signal)
        hub.wait(20)
        await wait_until(lambda: not any(pid_alive(pid) for pid in children), timeout=15)
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.wait(10)
        for pid in children:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_wipe_empties_only_a_demo_directory(tmp_path):
    from agentcom_site import demo

    operator_data = tmp_path / "var"
    (operator_data / "sidecars").mkdir(parents=True)
    (operator_data / "db.sqlite3").write_text("precious")
    with pytest.raises(ValueError, match="not a demo data directory"):
        demo.wipe(operator_data)
    assert (operator_data / "db.sqlite3").exists()

    demo_dir = demo.demo_data_dir(operator_data)
    (demo_dir / "sidecars" / "demo-alpha").mkdir(parents=True)
    for name in ("db.sqlite3", "hub.lock", "secret_key"):
        (demo_dir / name).write_text("x")
    demo.wipe(demo_dir)
    assert sorted(p.name for p in demo_dir.iterdir()) == ["hub.lock", "secret_key"]
    assert (operator_data / "db.sqlite3").read_text() == "precious"
