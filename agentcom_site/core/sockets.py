"""The base of the hub's WebSocket consumers."""

import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

log = logging.getLogger("agentcom.sockets")


class HubConsumer(AsyncWebsocketConsumer):
    """Handles each message without a detour through the database thread, and survives
    a failing handler.

    Channels closes stale database connections before every message it dispatches, by
    queueing `close_old_connections` on the database thread. Every database call these
    consumers make goes through `database_sync_to_async`, which does the same inside
    that thread, so the detour only cost a hop per frame: with 10 000 agents pinging,
    hundreds a second queued behind the real database work.

    A handler that raises would end the consumer without its `disconnect` (the server
    closes the socket with 1011 and delivers nothing more), leaving the agent online
    with no socket. So a failure is logged and the socket carries on; consumers turn a
    failing frame into an `internal_error` frame themselves, where they know its type.
    """

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        try:
            await handler(message)
        except StopConsumer:
            raise
        except Exception:
            if message["type"] == "websocket.disconnect":
                raise  # the socket is gone either way; the server logs it
            log.exception("%s failed on a %s message", type(self).__name__, message["type"])
