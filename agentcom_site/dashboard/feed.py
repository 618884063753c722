"""The live feed: committed hub events, made compact for dashboards (PROTOCOL.md §5).

A listener on `agentcom_site.core.events` runs after each commit, in whichever process made
the change, and hands the compact events to the channel-layer group every dashboard
socket joins; with Redis that group spans all hub processes and workers.

Inside a hub process the listener runs on the one thread that serves every database
call, so it must not wait for Redis: it queues the events for a sender task on the
event loop, which sends whatever has accumulated, in order, as one group message.
"""

import asyncio
import logging
import os
import threading
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

from agentcom_site.core.clock import now_ms
from agentcom_site.core.events import Event, subscribe

log = logging.getLogger(__name__)

DASHBOARD_GROUP = "agentcom.dashboard"

TASK_EVENTS = {
    "task_submitted",
    "task_assigned",
    "task_accepted",
    "task_progress",
    "task_completed",
    "task_retried",
    "task_dead_letter",
    "task_reclaimed",
    "task_rejected",
    "task_continued",
    "task_cancelled",
}
# Internal names that mean one of the protocol's events for an operator.
TASK_ALIASES = {"task_requeued": "task_retried"}  # an operator retry of a dead letter
# What the holder's state becomes with each task event: the queue operations move the
# agent inside the same transaction without a separate `agent_state` announcement.
HOLDER_STATE = {
    "task_assigned": "assigned",
    "task_accepted": "working",
    "task_continued": "working",
}


def compact(event: Event) -> list[dict[str, Any]]:
    """The dashboard events for one hub event (none for internal ones)."""
    moment = now_ms()
    kind = TASK_ALIASES.get(event.kind, event.kind)
    if kind in TASK_EVENTS:
        frames = [
            {
                "type": "task_event",
                "task_id": event.task_id,
                "event": kind,
                "agent_id": event.agent_id,
                "timestamp": moment,
            }
        ]
        if kind in HOLDER_STATE and event.agent_id:
            frames.append(_agent_state(event.agent_id, HOLDER_STATE[kind], moment))
        return frames
    if kind == "agent_joined":
        agent = event.data.get("agent", {})
        return [
            {
                "type": "agent_joined",
                "agent_id": event.agent_id,
                "name": agent.get("name", event.agent_id),
                "capabilities": agent.get("capabilities", []),
                "timestamp": moment,
            }
        ]
    if kind == "agent_left":
        return [{"type": "agent_left", "agent_id": event.agent_id, "timestamp": moment}]
    if kind == "status_changed":
        status = event.data.get("agent", {}).get("status", "")
        return [
            {
                "type": "status_changed",
                "agent_id": event.agent_id,
                "status": status,
                "timestamp": moment,
            }
        ]
    if kind == "agent_state":
        return [_agent_state(event.agent_id, event.data.get("fsm_state"), moment)]
    if kind == "agent_idle":
        return [_agent_state(event.agent_id, "idle", moment)]
    return []


def _agent_state(agent_id: str | None, fsm_state: str | None, moment: int) -> dict[str, Any]:
    return {
        "type": "agent_state",
        "agent_id": agent_id,
        "fsm_state": fsm_state,
        "timestamp": moment,
    }


def group_message(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "dashboard.events", "events": events}


# Events waiting for the sender task of each event loop; a loop is a key while its
# sender is scheduled or running.
_outboxes: dict[asyncio.AbstractEventLoop, list[dict[str, Any]]] = {}
_lock = threading.Lock()


def _serving_loop() -> asyncio.AbstractEventLoop | None:
    """The loop running in this thread, or the one it does database work for, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is None or loop.is_closed():
        return None
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    return loop


async def _send(events: list[dict[str, Any]]) -> None:
    try:
        await get_channel_layer().group_send(DASHBOARD_GROUP, group_message(events))
    except ChannelFull:
        # A dashboard that falls this far behind resyncs from its next snapshot.
        log.warning("dashboard group is full; dropped %d events", len(events))


async def _drain(loop: asyncio.AbstractEventLoop) -> None:
    while True:
        with _lock:
            events = _outboxes.get(loop, [])
            if not events:
                _outboxes.pop(loop, None)
                return
            _outboxes[loop] = []
        try:
            await _send(events)
        except Exception:
            log.exception("could not send %d dashboard events", len(events))


def on_event(event: Event) -> None:
    events = compact(event)
    if not events:
        return
    loop = _serving_loop()
    if loop is None:  # a command or a plain thread: no loop to hand the work to
        async_to_sync(_send)(events)
        return
    with _lock:
        scheduled = loop in _outboxes
        _outboxes.setdefault(loop, []).extend(events)
    if not scheduled:
        loop.call_soon_threadsafe(lambda: loop.create_task(_drain(loop)))


def connect_listeners() -> None:
    subscribe(on_event)
