"""The sockets open in this process, for liveness checks that need no database.

Ping TTL and identify timeouts are enforced here, per process, from the time of each
socket's last frame; `last_seen` is written to the database in one batched update.
"""

import time
from typing import Any

from django.conf import settings

IDENTIFY_TIMEOUT_S = 60

_open: set[Any] = set()


def register(consumer: Any) -> None:
    _open.add(consumer)


def unregister(consumer: Any) -> None:
    _open.discard(consumer)


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
        elif consumer.agent is None and moment - consumer.opened_at > IDENTIFY_TIMEOUT_S:
            await consumer.close_with(4001, "identify timeout")
            closed += 1
    return closed


async def close_all(code: int, reason: str) -> int:
    """Close every socket of this process (hub shutdown: 1000 `shutdown`)."""
    sockets = list(_open)
    for consumer in sockets:
        await consumer.close_with(code, reason)
    return len(sockets)
