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

import logging
from typing import Any

from agentcom_site.core import transport
from agentcom_site.core.clock import now_ms
from agentcom_site.core.events import Event, EventKind, subscribe

log = logging.getLogger(__name__)

PRESENCE_GROUP = "agentcom.agents"


def push_message(frame: dict[str, Any], *, exclude: str | None = None) -> dict[str, Any]:
    return {"type": "agent.push", "frame": frame, "exclude": exclude}


def close_message(code: int, reason: str) -> dict[str, Any]:
    return {"type": "agent.close", "code": code, "reason": reason}


# --- committed events become frames ------------------------------------------------------


def on_event(event: Event) -> None:
    """Turn committed changes into pushes: task frames to the holder's own socket,
    presence frames to every socket that listens for them."""
    if event.kind == EventKind.TASK_ASSIGNED:
        transport.to_socket(event.data["channel_name"], push_message(event.data["frame"]))
    elif event.kind == EventKind.TASK_INPUT_ANSWERED and event.data.get("frame"):
        # Only to a holder that declared `input_required` (the queue decided).
        transport.to_socket(event.data["channel_name"], push_message(event.data["frame"]))
    elif event.kind == EventKind.TASK_TAKEN:
        frame = {
            "type": "task_cancelled",
            "task_id": event.task_id,
            "timestamp": now_ms(),
            "reason": event.data["reason"],
        }
        transport.to_socket(event.data["channel_name"], push_message(frame))
    elif event.kind == EventKind.AGENT_JOINED:
        frame = {"type": "agent_joined", "agent": event.data["agent"]}
        transport.to_group(PRESENCE_GROUP, push_message(frame, exclude=event.agent_id))
    elif event.kind == EventKind.AGENT_LEFT:
        frame = {"type": "agent_left", "agent_id": event.agent_id}
        transport.to_group(PRESENCE_GROUP, push_message(frame, exclude=event.agent_id))
    elif event.kind == EventKind.TOKENS_REVOKED:
        transport.to_socket(event.data["channel_name"], close_message(4003, "token revoked"))
    elif event.kind == EventKind.STATUS_CHANGED:
        transport.to_group(
            PRESENCE_GROUP, push_message({"type": "status_changed", "agent": event.data["agent"]})
        )


def connect_listeners() -> None:
    subscribe(on_event)
