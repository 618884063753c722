"""The live feed: committed hub events, made compact for dashboards (PROTOCOL.md §5).

A listener on `agentcom_site.core.events` runs after each commit, in whichever process made
the change, and hands the compact events to the channel-layer group every dashboard
socket joins; with Redis that group spans all hub processes and workers.

Like every after-commit push it goes through the kernel's transport, which hands the
sending to the event loop instead of waiting for Redis on the database thread.
"""

import threading
from typing import Any

from agentcom_site.core import transport
from agentcom_site.core.auth import OPERATOR_PREFIX
from agentcom_site.core.clock import now_ms
from agentcom_site.core.events import Event, subscribe

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
    "task_input_required",
    "task_input_answered",
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
    if kind in ("channel_published", "message_routed"):
        return _conversation(event, moment)
    if kind == "agent_idle":
        return [_agent_state(event.agent_id, "idle", moment)]
    return []


def _conversation(event: Event, moment: int) -> list[dict[str, Any]]:
    """Chat that the dashboard's conversation pages show: every channel message, and
    direct messages from or to operators or answering someone (`reply_to`). Only who and
    where: the pages read the text from the database and render it escaped."""
    frame = event.data.get("frame", {})
    base = {"id": frame.get("id"), "from": frame.get("from"), "timestamp": moment}
    if event.kind == "channel_published":
        return [{"type": "channel_message", "channel": frame.get("channel"), **base}]
    recipient = event.data.get("recipient") or None
    sender = frame.get("from") or ""
    if sender.startswith(OPERATOR_PREFIX):
        return [{"type": "direct_message", "agent_id": recipient, "to": recipient, **base}]
    if frame.get("reply_to") or (recipient or "").startswith(OPERATOR_PREFIX):
        return [{"type": "direct_message", "agent_id": sender, "to": recipient, **base}]
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


# Compact events waiting to be sent. One sender job is handed over at a time and sends
# whatever has accumulated meanwhile as one group message, so a burst of commits costs
# the channel layer one message, not one per event.
_pending: list[dict[str, Any]] = []
_lock = threading.Lock()


async def _send_pending() -> None:
    with _lock:
        events = _pending[:]
        _pending.clear()
    if events:
        await transport.send_to_group(DASHBOARD_GROUP, group_message(events))


def on_event(event: Event) -> None:
    events = compact(event)
    if not events:
        return
    with _lock:
        sender_due = not _pending
        _pending.extend(events)
    if sender_due:
        transport.hand_over(_send_pending, lane=transport.BROADCAST)


def connect_listeners() -> None:
    subscribe(on_event)
