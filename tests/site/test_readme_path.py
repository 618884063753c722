"""The README's first path, pasted as written, ends in a completed task on the dashboard.

The blocks fenced as ```sh first-path are run in order by one shell in the checkout, as a
newcomer pastes them into a second terminal, against a hub of this test's own (fresh data
directory, a free port in place of 8000, a home directory of its own). What
`onboard_agent` printed must be what the README shows it printing, so the README's
systemd unit and start command cannot drift from the real ones either.
"""

import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness import ROOT
from tests.site.pages import log_in

pytestmark = pytest.mark.e2e

README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w+)[ \t]+([\w-]+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
README_ROOT, README_HOME = "/home/you/agentcom", "/home/you"
SCRIPT_TIMEOUT_S = 90


def fenced(tag: str) -> list[str]:
    return [body for _, name, body in FENCE.findall(README.read_text()) if name == tag]


def commands(block: str) -> list[str]:
    """The block's commands, continuation lines joined."""
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def expand(word: str, home: Path) -> str:
    """A word of the README's commands as the shell in the checkout sees it."""
    word = word.replace("$PWD", str(ROOT)).replace("~", str(home))
    return str(ROOT / word) if word.startswith(".venv/") else word


def test_the_quick_start_is_two_commands():
    quick = README.read_text().split("## Quick start", 1)[1].split("```sh\n", 1)[1]
    lines = quick.split("```", 1)[0].splitlines()
    assert [line.split("#")[0].strip() for line in lines] == [
        "python3 dev.py hub",
        "python3 dev.py test",
    ]


def test_the_readme_path_reaches_a_completed_task_on_the_dashboard(backend, start_hub, tmp_path):
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        pytest.skip(f"the README's commands use {python}: run the suite with python3 dev.py test")
    if shutil.which("curl") is None:
        pytest.skip("the README's path uses curl, which is not installed")
    blocks = fenced("first-path")
    assert len(blocks) >= 4, "the README lost its ```sh first-path blocks"
    hub = start_hub()
    home = tmp_path / "home"
    home.mkdir()
    script = "\n".join(blocks).replace("127.0.0.1:8000", f"127.0.0.1:{hub.port}")
    shell = subprocess.Popen(
        ["bash", "-eu", "-c", script],
        cwd=ROOT,
        env={**os.environ, **backend.env, "HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the sidecar it starts is in this group, killed below
    )
    try:
        printed, _ = shell.communicate(timeout=SCRIPT_TIMEOUT_S)
    finally:
        try:
            os.killpg(shell.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    sidecar_out = home / ".agentcom" / "first-agent" / "sidecar.out"
    sidecar_log = sidecar_out.read_text() if sidecar_out.exists() else "(none)"
    context = f"{printed}\n--- sidecar.out:\n{sidecar_log}"
    assert shell.returncode == 0, context

    # onboard_agent printed what the README says it prints, paths aside.
    shown = fenced("onboard-output")
    assert len(shown) == 1
    expected = shown[0].replace(README_ROOT, str(ROOT)).replace(README_HOME, str(home))
    assert expected in printed, context
    # The README's start command is the one onboard_agent printed.
    start = next(c for c in commands(blocks[1]) if c.startswith("PYTHONPATH="))
    printed_start = next(line for line in printed.splitlines() if "-m sidecar --config" in line)
    assert shlex.split(printed_start) == [expand(w, home) for w in shlex.split(start)[:6]]

    # The task the README submitted completed, and the dashboard shows it to the login
    # the README created.
    task_id = re.search(r"^(task-\w+) is completed$", printed, re.MULTILINE)
    assert task_id, context
    task_id = task_id.group(1)
    status, task = hub.http("GET", f"/api/tasks/{task_id}", token=backend.operator_token())
    assert status == 200 and task["status"] == "completed", task
    assert task["assigned_to"] == "first-agent"
    login = "\n".join(fenced("first-path"))
    password = re.search(r"DJANGO_SUPERUSER_PASSWORD='([^']+)'", login).group(1)
    username = re.search(r"--username (\S+)", login).group(1)
    opener, _ = log_in(hub.url, username, password)
    page = opener.open(f"{hub.url}/dashboard/tasks/{task_id}", timeout=10).read().decode()
    assert task_id in page and "completed" in page.lower()


def test_the_only_unit_in_the_readme_is_onboard_agents_output():
    """No second copy of the unit that could differ from the one written."""
    shown = fenced("onboard-output")[0]
    unit = "/home/you/.agentcom/first-agent/agentcom-sidecar-first-agent.service"
    assert f"{unit}:\n[Unit]" in shown
    assert README.read_text().count("[Service]") == 1
