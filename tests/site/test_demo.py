"""`runhub --demo`: agents appear, tasks flow, the login works, the sidecars die with the hub."""

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.agents import wait_until
from tests.e2e.harness import ROOT, free_port
from tests.sidecar.harness import pid_alive

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


def log_in(base: str, username: str, password: str) -> str:
    """The admin login a browser does (CSRF cookie and field); returns the landing page."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{base}/admin/login/?next=/dashboard", timeout=10).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    body = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": csrf,
            "username": username,
            "password": password,
            "next": "/dashboard",
        }
    ).encode()
    request = urllib.request.Request(f"{base}/admin/login/?next=/dashboard", data=body)
    request.add_header("Referer", f"{base}/admin/login/")
    with opener.open(request, timeout=10) as response:
        assert response.url.endswith("/dashboard"), response.url
        return response.read().decode()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill"])
async def test_demo_runs_and_its_sidecars_stop_with_the_hub(backend, tmp_path, stop_signal):
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
        ops = backend.operator_token()
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
        assert 'id="snapshot"' in log_in(base, *login.groups())
        children += sidecar_children(hub.pid)
        assert len(children) == 2
        configs = sorted(p.parent.name for p in (backend.data_dir / "demo").glob("*/config.json"))
        assert configs == ["demo-alpha", "demo-beta"]

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
