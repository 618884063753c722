"""Reconnects, heartbeat, authentication pauses and shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.sidecar.harness import PYTHON, TOKEN, fast_config, pid_alive, task_assign

TASK = "task-00000000000000a1"


async def test_reconnects_after_the_hub_drops_the_connection(hub, make_sidecar):
    make_sidecar(fast_config(hub.url)).start()
    await hub.expect("identify")

    await hub.drop()
    again = await hub.expect("identify")

    assert again["agent_id"] == "gcu-sleeper"
    assert len(hub.identify_times) == 2


async def test_missing_pong_drops_the_link_and_reconnects(hub, make_sidecar):
    hub.answer_pings = False
    make_sidecar(fast_config(hub.url, ping_interval_ms=100, pong_timeout_ms=100)).start()
    await hub.expect("identify")

    await hub.expect("identify", timeout=5)

    assert hub.count("ping") >= 1


async def test_invalid_token_waits_auth_retry_before_trying_again(hub, make_sidecar):
    hub.identify_reply = lambda frame: {"type": "error", "error": "invalid_token", "detail": "x"}
    sidecar = make_sidecar(fast_config(hub.url, reconnect_base_ms=50, auth_retry_ms=600)).start()
    await hub.expect("identify")

    await hub.expect("identify")

    pause = hub.identify_times[1] - hub.identify_times[0]
    assert pause >= 0.55
    log = sidecar.log_file.read_text()
    assert "invalid_token" in log
    assert TOKEN not in log


async def test_an_error_answering_identify_starts_the_connection_over(hub, make_sidecar):
    """A hub that could not bind the socket answers identify with an error and nothing
    else: the sidecar must not wait on that socket for an `identified` never to come."""
    answers = iter([{"type": "error", "error": "internal_error", "detail": "layer down"}])
    hub.identify_reply = lambda frame: next(answers, {"type": "identified", "agent_id": "x"})
    make_sidecar(fast_config(hub.url, reconnect_base_ms=50, ping_interval_ms=60_000)).start()
    await hub.expect("identify")

    await hub.expect("identify", timeout=5)

    assert len(hub.identify_times) == 2


async def test_replaced_connection_waits_auth_retry(hub, make_sidecar):
    make_sidecar(fast_config(hub.url, reconnect_base_ms=50, auth_retry_ms=600)).start()
    await hub.expect("identify")

    await hub.drop(4000, "replaced")
    await hub.expect("identify")

    assert hub.identify_times[1] - hub.identify_times[0] >= 0.55


@pytest.mark.parametrize(
    ("wake_command", "status"),
    [
        (None, None),
        ("echo $$ > wake.pid; exec sleep 30", "waking"),
        ("true", "waking_confirmation"),
        (f"{PYTHON} -m sidecar.fake_agent --outcome none", "working"),
    ],
    ids=["idle", "mid-wake", "awaiting-confirmation", "working"],
)
async def test_sigterm_closes_with_1000_and_keeps_the_task(hub, make_sidecar, wake_command, status):
    config = fast_config(hub.url, wake_command=wake_command, confirmation_timeout_ms=30000)
    config["self_wake"] = wake_command is None
    sidecar = make_sidecar(config).start()
    await hub.expect("identify")
    if status is not None:
        await hub.send(task_assign())
        await sidecar.wait_for_status(status)
    if status == "waking":
        await sidecar.wait_for(lambda: (sidecar.dir / "wake.pid").exists(), "wake started")

    exit_code = await sidecar.stop()
    close = await asyncio.wait_for(hub.closes.get(), 5)

    assert exit_code == 0
    assert close == (1000, "shutdown")
    if status is None:
        assert sidecar.queue()["active"] is None
    else:
        assert sidecar.queue()["active"]["status"] == status
    if status == "waking":
        wake_pid = int((sidecar.dir / "wake.pid").read_text())
        assert not pid_alive(wake_pid)


async def test_sigint_also_shuts_down_cleanly(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url)).start()
    await hub.expect("identify")

    sidecar.signal(signal.SIGINT)

    assert await sidecar.wait_exit() == 0
    assert await asyncio.wait_for(hub.closes.get(), 5) == (1000, "shutdown")


async def test_sigterm_while_hub_is_unreachable_exits_zero(make_sidecar):
    sidecar = make_sidecar(fast_config("ws://127.0.0.1:9/ws")).start()

    def failed_once() -> bool:
        return sidecar.log_file.exists() and "reconnect_scheduled" in sidecar.log_file.read_text()

    await sidecar.wait_for(failed_once, "a failed connect")

    assert await sidecar.stop() == 0


async def test_sigterm_during_a_stalled_handshake_exits_promptly(make_sidecar):
    accepted = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # hold the TCP connection open without answering the upgrade
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sidecar = make_sidecar(fast_config(f"ws://127.0.0.1:{port}/ws")).start()
    await asyncio.wait_for(accepted.wait(), 10)

    started = time.monotonic()
    exit_code = await sidecar.stop()

    assert exit_code == 0
    assert time.monotonic() - started < 3
    server.close()
