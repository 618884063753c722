"""The sockets open in this process, for liveness checks that need no database.

Ping TTL and identify timeouts are enforced here, per process, from the time of each
socket's last frame. Each socket waits in a deadline heap (agents/deadlines.py), so a
check looks only at the sockets whose deadline has come, not at every socket; the
agents heard from since the last check are collected as their frames arrive, for the
batched `last_seen` write.

A socket that has not identified costs the hub a descriptor and memory and proves
nothing, so they are bounded (PROTOCOL.md §2.5): per client address, and in all, to
a share of the process's open-files limit so that identified agents, HTTP requests
and the database always find a descriptor.
"""

import asyncio
import resource
import time
from typing import Any

from django.conf import settings

from agentcom_site.core.errors import HubError, hub_full, shutting_down, too_many_unidentified
from agents.deadlines import Deadlines

# Deadline entries looked at between two yields to the event loop.
CHECK_SLICE = 200


def _deadline(consumer: Any) -> float:
    if consumer.agent is None:
        return consumer.opened_at + settings.AGENTCOM_IDENTIFY_TIMEOUT_S
    return consumer.last_frame_at + settings.AGENTCOM_PING_TTL_S


_open: set[Any] = set()
_deadlines: Deadlines[Any] = Deadlines(_deadline)
_heard: set[int] = set()  # pks of agents whose sockets sent a frame since the last take
_waiting: dict[str, set[Any]] = {}  # client address -> its unidentified sockets
_waiting_total = 0
_admitting = True  # False once this process stops (`stop_admitting`)


def unidentified_cap() -> int:
    """The global cap: the setting, else half of the open-files limit."""
    if settings.AGENTCOM_MAX_UNIDENTIFIED:
        return settings.AGENTCOM_MAX_UNIDENTIFIED
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(1, soft // 2)


def stop_admitting() -> None:
    """A clean stop: every socket opened from now on is refused (503 `shutting_down`).
    A sidecar reconnecting meanwhile retries until the next process serves it, instead
    of binding its agent to one about to exit."""
    global _admitting
    _admitting = False


def resume_admitting() -> None:
    global _admitting
    _admitting = True


def admit(consumer: Any, address: str) -> HubError | None:
    """Register a new, unidentified socket, or say why it is refused."""
    global _waiting_total
    if not _admitting:
        return shutting_down()
    per_address = settings.AGENTCOM_MAX_UNIDENTIFIED_PER_ADDRESS
    waiting = _waiting.get(address, set())
    if len(waiting) >= per_address:
        return too_many_unidentified(per_address)
    if _waiting_total >= unidentified_cap():
        return hub_full()
    _waiting.setdefault(address, waiting).add(consumer)
    _waiting_total += 1
    consumer.address = address
    _open.add(consumer)
    _deadlines.watch(consumer, _deadline(consumer))
    return None


def identified(consumer: Any) -> None:
    """The socket identified: it no longer counts against the caps, and from now on
    it is held to the ping TTL."""
    _stop_waiting(consumer)
    _deadlines.watch(consumer, _deadline(consumer))
    _heard.add(consumer.agent.pk)


def heard(consumer: Any) -> None:
    """A frame arrived on the socket (call after setting its `last_frame_at`)."""
    if consumer.agent is not None:
        _heard.add(consumer.agent.pk)


def take_heard() -> list[int]:
    """The agents heard from since the last call, for their `last_seen`."""
    global _heard
    taken, _heard = _heard, set()
    return list(taken)


def _stop_waiting(consumer: Any) -> None:
    global _waiting_total
    waiting = _waiting.get(getattr(consumer, "address", ""))
    if waiting is not None and consumer in waiting:
        waiting.discard(consumer)
        _waiting_total -= 1
        if not waiting:
            del _waiting[consumer.address]


def unregister(consumer: Any) -> None:
    _stop_waiting(consumer)
    _open.discard(consumer)
    _deadlines.forget(consumer)
    if consumer.agent is not None:
        # Its agent goes offline now (or a newer socket has it, and identify stamped
        # `last_seen`): a write after this would move where its session seems to end.
        _heard.discard(consumer.agent.pk)


def unidentified_count() -> int:
    return _waiting_total


async def close_silent(moment: float | None = None) -> int:
    """Close sockets silent past the ping TTL (4002) or unidentified too long (4001).

    Only the sockets whose deadline has passed are looked at, a slice at a time."""
    moment = time.monotonic() if moment is None else moment
    closed = 0
    while True:
        for consumer in _deadlines.due(moment, limit=CHECK_SLICE):
            if consumer.closing:
                continue  # already on its way out
            if consumer.agent is None:
                await consumer.close_with(4001, "identify timeout")
            else:
                await consumer.close_with(4002, "ping timeout")
            closed += 1
        if not _deadlines.overdue(moment):
            return closed
        await asyncio.sleep(0)


async def close_all(code: int, reason: str) -> int:
    """Close every socket of this process (hub shutdown: 1000 `shutdown`)."""
    sockets = list(_open)
    for consumer in sockets:
        await consumer.close_with(code, reason)
    return len(sockets)
