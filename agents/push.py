"""Pushing frames to agent sockets through the channel layer.

Every socket listens on its own channel name (stored on the Agent row while it is the
agent's live connection) and, unless it identified with `"presence": false`, on the
presence group. Presence frames go to every listener, so N agents identifying cost
N²/2 frames; clients that ignore them (the sidecar) opt out.
Messages the consumer understands:

- `agent.push`       {"frame": {...}, "exclude": agent_id | None}
- `agent.close`      {"code": int, "reason": str}
- `agent.join_group` / `agent.leave_group` {"group": str}
"""

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer, get_channel_layer

from agentcom_site.core.clock import now_ms
from agentcom_site.core.events import Event, subscribe

log = logging.getLogger(__name__)

PRESENCE_GROUP = "agentcom.agents"


def push_message(frame: dict[str, Any], *, exclude: str | None = None) -> dict[str, Any]:
    return {"type": "agent.push", "frame": frame, "exclude": exclude}


def close_message(code: int, reason: str) -> dict[str, Any]:
    return {"type": "agent.close", "code": code, "reason": reason}


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
    await get_channel_layer().group_send(group, message)


async def _send(target: str, message: dict[str, Any]) -> None:
    """To one socket, or to the presence group."""
    if target == PRESENCE_GROUP:
        await send_to_group(target, message)
    else:
        await send_to_socket(target, message)


class Outbox:
    """Hands frames from database threads to the event loop without waiting for it.

    Committed changes are announced from the thread that committed them; blocking
    that thread until the loop has sent the frame would hold up the next database
    operation. Two lanes, each drained in order by its own sender: frames for one
    socket (task_assign, closes) never wait behind a burst of group broadcasts.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.direct: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.groups: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.tasks = [loop.create_task(self._drain(lane)) for lane in (self.direct, self.groups)]

    def put(self, target: str, message: dict[str, Any]) -> None:
        lane = self.groups if target == PRESENCE_GROUP else self.direct
        self.loop.call_soon_threadsafe(lane.put_nowait, (target, message))

    @staticmethod
    async def _drain(lane: asyncio.Queue[tuple[str, dict[str, Any]]]) -> None:
        while True:
            target, message = await lane.get()
            try:
                await _send(target, message)
            except Exception:
                log.exception("push of %s failed", message.get("type"))


_outbox: Outbox | None = None


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


def delivers_from_here() -> bool:
    """Can a push made by this process reach sockets served elsewhere?

    A hub or worker process has its outbox; with a shared (Redis) layer any process
    reaches every socket. A plain command on the in-memory layer reaches none.
    """
    return _outbox is not None or not isinstance(get_channel_layer(), InMemoryChannelLayer)


def _on_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _hand_over(target: str, message: dict[str, Any]) -> None:
    loop = _on_loop()
    if loop is not None:
        # Called on the event loop itself (the sweep loop, say): schedule, don't block.
        loop.create_task(_send(target, message))
    elif _outbox is not None and not _outbox.loop.is_closed():
        _outbox.put(target, message)
    else:  # no hub loop in this process (a management command, a test)
        async_to_sync(_send)(target, message)


def send_to_socket_sync(channel_name: str, message: dict[str, Any]) -> None:
    """From any context: deliver to one socket without waiting for the event loop."""
    _hand_over(channel_name, message)


def send_to_presence_sync(message: dict[str, Any]) -> None:
    """From any context: deliver to every identified socket that wants presence frames."""
    _hand_over(PRESENCE_GROUP, message)


# --- committed events become frames ------------------------------------------------------


def on_event(event: Event) -> None:
    """Turn committed changes into pushes: task frames to the holder's own socket,
    presence frames to every socket that listens for them."""
    if event.kind == "task_assigned":
        send_to_socket_sync(event.data["channel_name"], push_message(event.data["frame"]))
    elif event.kind == "task_taken":
        frame = {
            "type": "task_cancelled",
            "task_id": event.task_id,
            "timestamp": now_ms(),
            "reason": event.data["reason"],
        }
        send_to_socket_sync(event.data["channel_name"], push_message(frame))
    elif event.kind == "agent_joined":
        frame = {"type": "agent_joined", "agent": event.data["agent"]}
        send_to_presence_sync(push_message(frame, exclude=event.agent_id))
    elif event.kind == "agent_left":
        frame = {"type": "agent_left", "agent_id": event.agent_id}
        send_to_presence_sync(push_message(frame, exclude=event.agent_id))
    elif event.kind == "tokens_revoked":
        send_to_socket_sync(event.data["channel_name"], close_message(4003, "token revoked"))
    elif event.kind == "status_changed":
        send_to_presence_sync(
            push_message({"type": "status_changed", "agent": event.data["agent"]})
        )


def connect_listeners() -> None:
    subscribe(on_event)
