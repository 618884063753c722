"""The one way committed changes reach sockets: after commit, hand over to the event loop.

Announcements run in whichever thread committed (DESIGN.md rule 2). That thread must
not wait for the channel layer: in a hub process it is the one thread that serves every
database call, and blocking it until a frame is sent would hold up the next operation.
So work is handed to the process's `Outbox` and runs on its event loop, in order, in one
of two lanes: frames for one socket (task_assign, closes, direct messages) never wait
behind a burst of group broadcasts. A process without an outbox (a management command,
a test) has no loop to hand over to and does the work before returning.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer, get_channel_layer

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[Any]]
DIRECT = "direct"
BROADCAST = "broadcast"


async def send_to_socket(channel_name: str, message: dict[str, Any]) -> bool:
    """Best-effort delivery to one socket; False when the channel is gone or full."""
    if not channel_name:
        return False
    try:
        await get_channel_layer().send(channel_name, message)
    except ChannelFull:
        log.warning("channel %s is full; dropped %s", channel_name, message.get("type"))
        return False
    return True


async def send_to_group(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer) and not layer.groups.get(group):
        # Every member of an in-memory group is a socket of this process, so there is no
        # one to tell; the layer would still sweep every channel for expiry first.
        return
    try:
        await layer.group_send(group, message)
    except ChannelFull:
        log.warning("group %s is full; dropped %s", group, message.get("type"))


class Outbox:
    """Runs handed-over jobs on one event loop, in order within each lane."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lanes: dict[str, asyncio.Queue[Job]] = {
            DIRECT: asyncio.Queue(),
            BROADCAST: asyncio.Queue(),
        }
        self.tasks = [loop.create_task(self._drain(lane)) for lane in self.lanes.values()]

    def put(self, lane: str, job: Job) -> None:
        """Thread-safe; returns at once."""
        self.loop.call_soon_threadsafe(self.lanes[lane].put_nowait, job)

    @staticmethod
    async def _drain(lane: asyncio.Queue[Job]) -> None:
        while True:
            job = await lane.get()
            try:
                await job()
            except Exception:
                log.exception("handed-over job %r failed", job)
            finally:
                lane.task_done()


_outbox: Outbox | None = None
_in_flight: set[asyncio.Task] = set()  # jobs started on a running loop, kept from the GC


def attach_outbox() -> Outbox:
    """Call from the running loop of a hub or worker process."""
    global _outbox
    _outbox = Outbox(asyncio.get_running_loop())
    return _outbox


def detach_outbox() -> None:
    global _outbox
    if _outbox is not None:
        for task in _outbox.tasks:
            task.cancel()
    _outbox = None


async def settle(timeout_s: float) -> bool:
    """Waits up to `timeout_s` until the pushes to single sockets handed over so far have
    run (a clean stop, before the sockets close); False if some were still pending."""
    await asyncio.sleep(0)  # hand-overs already queued to this loop reach their lane
    joins = [asyncio.ensure_future(_outbox.lanes[DIRECT].join())] if _outbox else []
    waiting = [*joins, *_in_flight]
    if not waiting:
        return True
    _, pending = await asyncio.wait(waiting, timeout=timeout_s)
    for join in joins:
        join.cancel()
    return not pending


def delivers_from_here() -> bool:
    """Can a push made by this process reach sockets served elsewhere?

    A hub or worker process has its outbox; with a shared (Redis) layer any process
    reaches every socket. A plain command on the in-memory layer reaches none.
    """
    return _outbox is not None or not isinstance(get_channel_layer(), InMemoryChannelLayer)


def hand_over(job: Job, *, lane: str = DIRECT) -> None:
    """Run job on the event loop without waiting for it (call after commit)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:  # already on a loop (the sweep loop, a consumer): schedule it
        task = loop.create_task(job())
        _in_flight.add(task)
        task.add_done_callback(_in_flight.discard)
    elif _outbox is not None and not _outbox.loop.is_closed():
        _outbox.put(lane, job)
    else:  # no loop in this process: nothing to hand over to
        async_to_sync(_run)(job)


async def _run(job: Job) -> None:
    await job()


def to_socket(channel_name: str, message: dict[str, Any]) -> None:
    """From any context: deliver message to one socket."""
    hand_over(lambda: send_to_socket(channel_name, message), lane=DIRECT)


def to_group(group: str, message: dict[str, Any]) -> None:
    """From any context: deliver message to every socket in group."""
    hand_over(lambda: send_to_group(group, message), lane=BROADCAST)
