"""Running the sidecar until SIGTERM/SIGINT (§6.7 shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from sidecar import __version__
from sidecar.config import SidecarConfig
from sidecar.connection import HubConnection
from sidecar.logs import EventLog
from sidecar.relay import Relay

SHUTDOWN_GRACE_S = 5
# SIGHUP: stop cleanly, telling the hub first (`agent_restarting`), and start again
# (sidecar/__main__.py runs itself anew on this status).
RESTART_EXIT = 75


def run(config: SidecarConfig) -> int:
    """Run the relay; return the process exit status (0 after a clean shutdown)."""
    return asyncio.run(_serve(config))


async def _serve(config: SidecarConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    received: list[str] = []
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):

        def on_signal(name: str = signum.name) -> None:
            received.append(name)
            stop.set()

        loop.add_signal_handler(signum, on_signal)

    log = EventLog(config.agent_id, config.log_file, secret=config.token)
    log.info(
        "startup", hub_url=config.hub_url, version=__version__, sidecar_dir=str(config.sidecar_dir)
    )
    relay = Relay(config, log)
    connection = HubConnection(config, log, relay)
    relay.attach(connection)
    relay.start()
    connecting = asyncio.create_task(connection.run())

    await stop.wait()
    restarting = bool(received) and received[0] == signal.SIGHUP.name
    log.info("shutdown", signal=received[0] if received else None, restarting=restarting)
    if restarting:
        await connection.send({"type": "agent_restarting", "reason": "restart requested"})
    await relay.stop()
    await connection.close()
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(connecting, SHUTDOWN_GRACE_S)
    log.info("stopped")
    log.close()
    return RESTART_EXIT if restarting else 0
