"""After-commit announcements: how one part of the hub tells the others what happened.

Services call `announce()` inside their transaction; listeners (the scheduler trigger,
socket pushes, the dashboard feed) run only once that transaction has committed, so no
frame ever announces a state that could still roll back (DESIGN.md rule 2).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.db import transaction

log = logging.getLogger(__name__)


class EventKind(StrEnum):
    """Every announcement the hub makes. Each is announced by one app and heard by any."""

    # tasks/queue.py
    TASK_SUBMITTED = "task_submitted"
    TASK_ASSIGNED = "task_assigned"
    TASK_ACCEPTED = "task_accepted"
    TASK_PROGRESS = "task_progress"
    TASK_COMPLETED = "task_completed"
    TASK_RETRIED = "task_retried"
    TASK_DEAD_LETTER = "task_dead_letter"
    TASK_RECLAIMED = "task_reclaimed"
    TASK_REJECTED = "task_rejected"
    TASK_CONTINUED = "task_continued"
    TASK_CANCELLED = "task_cancelled"
    TASK_REQUEUED = "task_requeued"  # an operator retried a dead letter
    TASK_TAKEN = "task_taken"  # a connected holder lost its task: tell it to stop
    TASK_INPUT_REQUIRED = "task_input_required"  # the holder asked an operator
    TASK_INPUT_ANSWERED = "task_input_answered"  # an operator answered (task_input pushed)
    # tasks/flow.py: a pause, resume or WIP cap changed
    DISPATCH_CHANGED = "dispatch_changed"
    # agents
    AGENT_JOINED = "agent_joined"
    AGENT_LEFT = "agent_left"
    AGENT_STATE = "agent_state"
    AGENT_IDLE = "agent_idle"
    STATUS_CHANGED = "status_changed"
    TOKENS_REVOKED = "tokens_revoked"
    # messaging
    MESSAGE_ROUTED = "message_routed"
    CHANNEL_PUBLISHED = "channel_published"
    CHANNEL_SUBSCRIBED = "channel_subscribed"
    CHANNEL_UNSUBSCRIBED = "channel_unsubscribed"


@dataclass(frozen=True)
class Event:
    kind: EventKind
    task_id: str | None = None
    agent_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[Event], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> Listener:
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def unsubscribe(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def announce(
    kind: EventKind, *, task_id: str | None = None, agent_id: str | None = None, **data: Any
) -> None:
    """Deliver an event to every listener after the current transaction commits."""
    event = Event(kind, task_id, agent_id, data)
    transaction.on_commit(lambda: deliver(event))


def deliver(event: Event) -> None:
    for listener in list(_listeners):
        try:
            listener(event)
        except Exception:  # one broken listener must not starve the others
            log.exception("event listener %r failed on %s", listener, event.kind)
