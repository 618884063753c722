"""The sockets open in this process, for liveness checks that need no database.

Ping TTL and identify timeouts are enforced here, per process, from the time of each
socket's last frame; `last_seen` is written to the database in one batched update.

A socket that has not identified costs the hub a descriptor and memory and proves
nothing, so they are bounded (PROTOCOL.md §2.5): per client address, and in all, to
a share of the process's open-files limit so that identified agents, HTTP requests
and the database always find a descriptor.
"""

import resource
import time
from typing import Any

from django.conf import settings

from agentcom_site.core.errors import HubError, hub_full, too_many_unidentified

_open: set[Any] = set()
_waiting: dict[str, set[Any]] = {}  # client address -> its unidentified sockets
_waiting_total = 0


def unidentified_cap() -> int:
    """The global cap: the setting, else half of the open-files limit."""
    if settings.AGENTCOM_MAX_UNIDENTIFIED:
        return settings.AGENTCOM_MAX_UNIDENTIFIED
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(1, soft // 2)


def admit(consumer: Any, address: str) -> HubError | None:
    """Register a new, unidentified socket, or say why it is refused."""
    global _waiting_total
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
    return None


def identified(consumer: Any) -> None:
    """The socket identified: it no longer counts against the caps."""
    global _waiting_total
    waiting = _waiting.get(getattr(consumer, "address", ""))
    if waiting is not None and consumer in waiting:
        waiting.discard(consumer)
        _waiting_total -= 1
        if not waiting:
            del _waiting[consumer.address]


def unregister(consumer: Any) -> None:
    identified(consumer)
    _open.discard(consumer)


def unidentified_count() -> int:
    return _waiting_total


def identified_agent_pks(since: float) -> list[int]:
    """Agents whose sockets sent a frame after `since` (monotonic seconds)."""
    return [c.agent.pk for c in list(_open) if c.agent is not None and c.last_frame_at >= since]


async def close_silent() -> int:
    """Close sockets silent past the ping TTL (4002) or unidentified too long (4001)."""
    moment = time.monotonic()
    ttl = settings.AGENTCOM_PING_TTL_S
    closed = 0
    for consumer in list(_open):
        if consumer.agent is not None and moment - consumer.last_frame_at > ttl:
            await consumer.close_with(4002, "ping timeout")
            closed += 1
        elif (
            consumer.agent is None
            and moment - consumer.opened_at > settings.AGENTCOM_IDENTIFY_TIMEOUT_S
        ):
            await consumer.close_with(4001, "identify timeout")
            closed += 1
    return closed


async def close_all(code: int, reason: str) -> int:
    """Close every socket of this process (hub shutdown: 1000 `shutdown`)."""
    sockets = list(_open)
    for consumer in sockets:
        await consumer.close_with(code, reason)
    return len(sockets)
