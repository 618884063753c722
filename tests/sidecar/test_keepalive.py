"""The keepalive task_progress goes out only while the agent is known to be alive."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from sidecar.liveness import agent_alive
from tests.sidecar.harness import (
    PYTHON,
    fast_config,
    pid_alive,
    sidecar_env,
    task_assign,
)

TASK = "task-00000000000000a1"


def logged(sidecar, event: str) -> bool:
    return f'"event": "{event}"' in sidecar.log_file.read_text()


def drain(hub) -> None:
    while not hub.frames.empty():
        hub.frames.get_nowait()


@pytest.mark.parametrize(
    ("wake_running", "last_written", "alive"),
    [
        (True, None, True),
        (False, 95.0, True),
        (False, 89.0, False),
        (False, None, False),
    ],
)
def test_the_agent_is_alive_while_its_wake_command_runs_or_it_wrote_lately(
    wake_running, last_written, alive
):
    assert (
        agent_alive(wake_running=wake_running, last_written=last_written, now=100.0, window_s=10)
        is alive
    )


async def test_keepalive_stops_once_a_detached_agent_falls_silent(hub, make_sidecar):
    wake = f"{PYTHON} -m sidecar.fake_agent --delay 0 --outcome none"  # confirms, then exits
    config = fast_config(hub.url, wake_command=wake, progress_interval_ms=100, alive_window_ms=500)
    sidecar = make_sidecar(config).start()
    await hub.expect("identify")
    await hub.send(task_assign())
    await hub.expect("task_progress")  # its .started is still fresh

    await sidecar.wait_for(lambda: logged(sidecar, "keepalive_withheld"), "keepalive withheld")
    drain(hub)

    with pytest.raises(AssertionError, match="no task_progress"):
        await hub.expect("task_progress", timeout=0.5)
    assert sidecar.queue()["active"]["status"] == "working"  # the hub's stuck reclaim decides


async def test_progress_reported_by_the_agent_brings_the_keepalive_back(hub, make_sidecar):
    wake = f"{PYTHON} -m sidecar.fake_agent --delay 0 --outcome none"
    config = fast_config(hub.url, wake_command=wake, progress_interval_ms=100, alive_window_ms=500)
    sidecar = make_sidecar(config).start()
    await hub.expect("identify")
    await hub.send(task_assign())
    await sidecar.wait_for(lambda: logged(sidecar, "keepalive_withheld"), "keepalive withheld")
    drain(hub)

    report = [PYTHON, "-m", "sidecar", "report", "--task-id", TASK, "--progress", '{"step": 2}']
    done = subprocess.run(
        [*report, "--results-dir", str(sidecar.results_dir)], env=sidecar_env(), check=False
    )
    reported = await hub.expect("task_progress")
    keepalive = await hub.expect("task_progress")

    assert done.returncode == 0
    assert reported["progress"] == {"step": 2}
    assert keepalive["progress"] == {"step": 2}  # the keepalive repeats the last progress
    assert logged(sidecar, "keepalive_resumed")


async def test_keepalive_continues_while_the_agent_runs_in_its_wake_command(hub, make_sidecar):
    # The agent confirms at once, then works for 2 s in the foreground of the wake command:
    # longer than wake_timeout_ms, and its .started soon older than alive_window_ms.
    wake = f"{PYTHON} -m sidecar.fake_agent --foreground --delay 2 --outcome none"
    config = fast_config(
        hub.url,
        wake_command=wake,
        wake_timeout_ms=1000,
        progress_interval_ms=100,
        alive_window_ms=300,
    )
    sidecar = make_sidecar(config).start()
    await hub.expect("identify")
    await hub.send(task_assign())
    woken = await hub.expect("wake_result")

    for _ in range(12):  # 1.2 s of keepalives
        await hub.expect("task_progress")
    running_then = not logged(sidecar, "keepalive_withheld")
    await sidecar.wait_for(lambda: logged(sidecar, "keepalive_withheld"), "agent exited")

    assert woken["status"] == "success" and woken["attempt"] == 1
    assert running_then
    assert hub.count("wake_result") == 1  # neither killed at wake_timeout_ms nor retried
    assert '"wake_exit_code": 0' in sidecar.log_file.read_text()


async def test_shutdown_stops_an_agent_running_in_its_wake_command(hub, make_sidecar):
    wake = (
        'echo $$ > agent.pid; : > "$AGENTCOM_RESULTS_DIR/$AGENTCOM_TASK_ID.started"; exec sleep 30'
    )
    sidecar = make_sidecar(fast_config(hub.url, wake_command=wake)).start()
    await hub.expect("identify")
    await hub.send(task_assign())
    await sidecar.wait_for_status("working")
    agent_pid = int((sidecar.dir / "agent.pid").read_text())
    assert pid_alive(agent_pid)

    assert await sidecar.stop() == 0

    assert not pid_alive(agent_pid)
    assert sidecar.queue()["active"]["status"] == "working"


async def test_a_background_agent_is_left_alone_when_its_task_is_cancelled(hub, make_sidecar):
    wake = 'sleep 30 & echo $! > agent.pid; : > "$AGENTCOM_RESULTS_DIR/$AGENTCOM_TASK_ID.started"'
    sidecar = make_sidecar(fast_config(hub.url, wake_command=wake)).start()
    await hub.expect("identify")
    await hub.send(task_assign())
    await sidecar.wait_for_status("working")
    agent_pid = int((sidecar.dir / "agent.pid").read_text())

    await hub.send({"type": "task_cancelled", "task_id": TASK, "reason": "operator"})
    await sidecar.wait_for(lambda: sidecar.queue()["active"] is None, "task dropped")

    try:
        assert pid_alive(agent_pid)  # stopping it is the cancel_command's business
    finally:
        os.kill(agent_pid, signal.SIGKILL)


async def test_an_agent_running_in_its_wake_command_stops_with_its_cancelled_task(
    hub, make_sidecar
):
    wake = (
        'echo $$ > agent.pid; : > "$AGENTCOM_RESULTS_DIR/$AGENTCOM_TASK_ID.started"; exec sleep 30'
    )
    sidecar = make_sidecar(fast_config(hub.url, wake_command=wake)).start()
    await hub.expect("identify")
    await hub.send(task_assign())
    await sidecar.wait_for_status("working")
    agent_pid = int((sidecar.dir / "agent.pid").read_text())

    await hub.send({"type": "task_cancelled", "task_id": TASK, "reason": "operator"})
    await sidecar.wait_for(lambda: not pid_alive(agent_pid), "the agent stopped")

    assert sidecar.queue()["active"] is None
