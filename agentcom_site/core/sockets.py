"""The base of the hub's WebSocket consumers."""

from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer


class HubConsumer(AsyncWebsocketConsumer):
    """Handles each message without a detour through the database thread.

    Channels closes stale database connections before every message it dispatches, by
    queueing `close_old_connections` on the database thread. Every database call these
    consumers make goes through `database_sync_to_async`, which does the same inside
    that thread, so the detour only cost a hop per frame: with 10 000 agents pinging,
    hundreds a second queued behind the real database work.
    """

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)
