"""After-commit announcements: how one part of the hub tells the others what happened.

Services call `announce()` inside their transaction; listeners (the scheduler trigger,
socket pushes, the dashboard feed) run only once that transaction has committed, so no
frame ever announces a state that could still roll back (DESIGN.md rule 2).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    kind: str  # e.g. "task_submitted", "task_assigned", "agent_idle"
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
    kind: str, *, task_id: str | None = None, agent_id: str | None = None, **data: Any
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
