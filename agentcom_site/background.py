"""Background duties of a hub process, on its event loop.

Every ASGI process checks its own sockets' liveness and batches `last_seen` writes.
The scheduler and the sweep run here in embedded mode, or in `manage.py schedule`
workers in scaled mode (`run_scheduler_and_sweep`).
"""

import asyncio
import logging
import resource

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import close_old_connections

from agentcom_site.core import metrics, transport
from agentcom_site.operations import alerts, backup
from agentcom_site.operations.loglevel import apply_stored_level
from agents import connections, presence, processes
from messaging.retention import enforce_retention
from tasks import scheduler
from tasks.sweep import sweep_once

log = logging.getLogger("agentcom.background")

LIVENESS_PERIOD_S = 5.0
# `last_seen` rows per UPDATE: with 10 000 agents pinging, one statement for all the
# active ones held the database thread long enough to show in dispatch latency.
TOUCH_BATCH = 200

_tasks: list[asyncio.Task] = []


async def liveness_loop() -> None:
    """Close silent sockets and refresh `last_seen` of the active ones."""
    while True:
        await asyncio.sleep(min(LIVENESS_PERIOD_S, settings.AGENTCOM_PING_TTL_S / 3))
        try:
            await check_liveness()
        except Exception:
            log.exception("liveness check failed")


async def check_liveness() -> None:
    """One round: only the sockets whose deadline passed are looked at
    (agents/connections.py), and the agents heard from since the last round get their
    `last_seen`, a batch per statement through the database thread."""
    await connections.close_silent()
    heard = connections.take_heard()
    for start in range(0, len(heard), TOUCH_BATCH):
        await database_sync_to_async(presence.touch)(heard[start : start + TOUCH_BATCH])


def _beat_and_release(hosting: bool) -> list[str]:
    close_old_connections()
    if hosting:
        processes.beat()
    return presence.release_orphans()


async def process_loop(*, hosting: bool, stopping: asyncio.Event | None = None) -> None:
    """Say this process is alive (if it hosts sockets) and release the agents of
    processes that stopped saying so (agents/processes.py)."""
    while stopping is None or not stopping.is_set():
        try:
            gone = await database_sync_to_async(_beat_and_release)(hosting)
            if gone:
                log.warning("agents of a dead hub process set offline: %s", ", ".join(gone))
        except Exception:
            log.exception("process heartbeat failed")
        try:
            if stopping is None:
                await asyncio.sleep(settings.AGENTCOM_PROCESS_BEAT_S)
            else:
                await asyncio.wait_for(stopping.wait(), settings.AGENTCOM_PROCESS_BEAT_S)
        except TimeoutError:
            pass


def _sweep() -> None:
    close_old_connections()
    sweep_once()
    enforce_retention()
    # After the sweep's own fixes, so an alert sees the state they left. Claimed: in
    # scaled mode one worker evaluates per interval, however many sweep.
    try:
        alerts.evaluate()
    except Exception:
        log.exception("alert evaluation failed; trying again next sweep")
    backup.start_scheduled()


async def sweep_loop(stopping: asyncio.Event | None = None) -> None:
    """Run the sweep every AGENTCOM_SWEEP_INTERVAL_S, then ask for a scheduling pass."""
    while stopping is None or not stopping.is_set():
        try:
            await database_sync_to_async(_sweep)()
            scheduler.request_pass()
        except Exception:
            log.exception("sweep failed; trying again next interval")
        try:
            if stopping is None:
                await asyncio.sleep(settings.AGENTCOM_SWEEP_INTERVAL_S)
            else:
                await asyncio.wait_for(stopping.wait(), settings.AGENTCOM_SWEEP_INTERVAL_S)
        except TimeoutError:
            pass


def _apply_log_level() -> None:
    close_old_connections()
    apply_stored_level()


async def log_level_loop(stopping: asyncio.Event | None = None) -> None:
    """Pick up the log level an operator set through another process."""
    while stopping is None or not stopping.is_set():
        try:
            await database_sync_to_async(_apply_log_level)()
        except Exception:
            log.exception("could not read the stored log level")
        try:
            if stopping is None:
                await asyncio.sleep(settings.AGENTCOM_LOG_LEVEL_CHECK_S)
            else:
                await asyncio.wait_for(stopping.wait(), settings.AGENTCOM_LOG_LEVEL_CHECK_S)
        except TimeoutError:
            pass


def raise_open_files_limit() -> int:
    """Every socket is a descriptor: take the hard limit, not the (often 1024) soft one.
    Returns the limit in force; the unidentified-socket cap is derived from it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        log.warning("could not raise the open-files limit from %d to %d", soft, hard)
        return soft
    return hard


def prepare(*, fresh_start: bool) -> None:
    """Synchronous start-up, before the event loop runs.

    `fresh_start` (embedded mode) marks every agent offline: no socket survives a
    restart, and the first sweep then starts the reconnect grace of their tasks.
    """
    metrics.prepare_process()
    apply_stored_level()
    if fresh_start:
        reset = presence.reset_all_offline()
        if reset:
            log.info("hub start: %d agents marked offline", reset)
    # Beat before the first socket can identify, so no other process's sweep takes
    # this process's first agents for orphans.
    processes.beat()
    close_old_connections()


# How long a clean stop waits for the claims under way, then for their frames to leave.
WIND_DOWN_S = 5.0


async def wind_down() -> int:
    """A clean stop's first half, in order: this process admits no new socket and
    assigns nothing more; the claims it already made commit and their frames leave;
    then every socket closes with 1000 `shutdown`. A sidecar reconnecting meanwhile is
    refused (503) and retries until the next process serves it; every task this process
    assigned reached its holder's socket before the close. Returns the sockets closed."""
    connections.stop_admitting()
    if not await asyncio.to_thread(scheduler.stop_assigning, WIND_DOWN_S):
        log.warning("stopping with a scheduling pass still running")
    if not await transport.settle(WIND_DOWN_S):
        log.warning("stopping with pushes still pending")
    return await connections.close_all(1000, "shutdown")


def release_this_process() -> list[str]:
    """A clean stop: this process's agents go offline and its heartbeat row goes."""
    gone = presence.release_process(processes.PROCESS_ID)
    processes.forget()
    metrics.forget_process()
    return gone


def start(*, scheduler_enabled: bool) -> None:
    """Start this process's background loops; call from inside the running event loop."""
    loop = asyncio.get_running_loop()
    transport.attach_outbox()
    _tasks.append(loop.create_task(liveness_loop()))
    _tasks.append(loop.create_task(process_loop(hosting=True)))
    _tasks.append(loop.create_task(log_level_loop()))
    if scheduler_enabled:
        scheduler.install_local_loop()
        _tasks.append(loop.create_task(sweep_loop()))


def stop() -> None:
    for task in _tasks:
        task.cancel()
    _tasks.clear()
    scheduler.uninstall_local_loop()
    transport.detach_outbox()
