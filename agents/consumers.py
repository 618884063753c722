"""The agent WebSocket `/ws` (PROTOCOL.md §2).

The consumer is thin: it checks each frame in the order of §2.1, then hands it to the
handler registered for its type (`agents.frames`, `tasks.frames`, `messaging.frames`),
which validates it and calls one service. Refusals become error frames, a handler
that fails becomes `internal_error`; the socket stays open except after too many
validation errors or a frame over the size limit (PROTOCOL.md §2.5). However a socket
ends, its agent goes offline (`disconnect`).
"""

import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from agentcom_site.core import logs, metrics
from agentcom_site.core.clock import now_ms
from agentcom_site.core.errors import HubError, internal_error
from agentcom_site.core.frames import frame_handlers, run_disconnect_hooks
from agentcom_site.core.sockets import HubConsumer
from agentcom_site.core.validation import parse_frame
from agents import connections, limits, presence
from agents.models import Agent
from agents.push import PRESENCE_GROUP

log = logging.getLogger(__name__)

STRIKE_CODES = ("invalid_json", "unknown_message_type", "validation_failed")
# Close codes of PROTOCOL.md §2.5. A server may only send 1000 or 3000-4999.
CLOSE_STRIKES = (4008, "too many validation errors")
CLOSE_TOO_LARGE = (4009, "frame too large")
CLOSE_IDENTIFY_FAILED = (4010, "identify failed")


class AgentConsumer(HubConsumer):
    agent: Agent | None = None

    # --- connection ----------------------------------------------------------------
    async def connect(self) -> None:
        self.agent = None
        self.opened_at = time.monotonic()
        self.last_frame_at = self.opened_at
        # Made at the first strike: an empty deque is ~0.75 KB, per socket of thousands.
        self.strikes: deque[float] | None = None
        self.closing = False
        self.replaced = False
        self.hears_presence = False
        # Every log line of this socket's task names it (core/logs.py).
        self.socket_id = secrets.token_hex(4)
        logs.bind(socket_id=self.socket_id, agent_id=None)
        client = self.scope.get("client") or ("unknown", 0)
        refusal = connections.admit(self, client[0])
        if refusal is not None:
            await self.refuse_handshake(refusal)
            return
        await self.accept()

    async def disconnect(self, code: int) -> None:
        connections.unregister(self)
        # Every step runs even if one before it failed: the agent must go offline.
        if self.hears_presence:
            await self._cleanup(
                "presence group",
                self.channel_layer.group_discard(PRESENCE_GROUP, self.channel_name),
            )
        if self.agent is not None:
            await self._cleanup(
                "presence",
                database_sync_to_async(presence.disconnect)(
                    self.agent.pk, channel_name=self.channel_name
                ),
            )
            await self._cleanup("disconnect hooks", run_disconnect_hooks(self))

    async def _cleanup(self, step: str, work: Awaitable[Any]) -> None:
        try:
            await work
        except Exception:
            log.exception("socket cleanup step %r failed", step)

    async def refuse_handshake(self, error: HubError) -> None:
        """Refuse the upgrade with the error's HTTP status and JSON body (the ASGI
        WebSocket denial response; runhub's daphne and uvicorn both speak it)."""
        self.closing = True
        metrics.refused("ws", error.code)
        body = json.dumps(error.as_dict()).encode()
        headers = [(b"content-type", b"application/json")]
        await self.base_send(
            {
                "type": "websocket.http.response.start",
                "status": error.http_status,
                "headers": headers,
            }
        )
        await self.base_send({"type": "websocket.http.response.body", "body": body})

    async def close_with(self, code: int, reason: str) -> None:
        if not self.closing:
            self.closing = True
            await self.close(code=code, reason=reason)

    # --- inbound -------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.last_frame_at = time.monotonic()
        connections.heard(self)
        if self.closing:
            return
        kind = None
        try:
            if self._too_large(text_data, bytes_data):
                await self.close_with(*CLOSE_TOO_LARGE)
                return
            frame = parse_frame(text_data, bytes_data)
            kind = frame["type"]
            task_id = frame.get("task_id")
            with logs.bound(task_id=task_id if isinstance(task_id, str) else None):
                await self._dispatch(frame)
        except HubError as error:
            await self.send_error(error)
        except Exception:
            # The frame type only (cut short: it is the client's text), never the frame:
            # it may hold a token.
            log.exception("the handler of a %.64r frame failed", kind)
            await self.send_error(internal_error())
        finally:
            metrics.frame_in(kind, self._known(kind))

    @staticmethod
    def _known(kind: object) -> bool:
        return kind in ("ping", "identify") or (isinstance(kind, str) and kind in frame_handlers())

    @staticmethod
    def _too_large(text_data: str | None, bytes_data: bytes | None) -> bool:
        limit = settings.AGENTCOM_MAX_FRAME_BYTES
        if text_data is None:
            return len(bytes_data or b"") > limit
        # A character is at most 4 bytes in UTF-8: most frames need no encoding here.
        return len(text_data) * 4 > limit and len(text_data.encode()) > limit

    async def _dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "ping":
            await self.send_frame({"type": "pong", "timestamp": now_ms()})
            return
        handlers = frame_handlers()
        if kind == "identify":
            before = self.agent
            try:
                await handlers["identify"](self, frame)
            except Exception:
                if self.agent is before:
                    raise  # nothing was bound: an error frame, and the client may retry
                # Bound in the database but never told `identified`: a client would wait
                # on a socket the hub counts as live. Close it; the disconnect takes the
                # agent offline and the client reconnects.
                log.exception("identify failed after the agent was bound")
                await self.close_with(*CLOSE_IDENTIFY_FAILED)
                return
            if self.agent is not None:
                connections.identified(self)
                logs.bind(agent_id=self.agent.agent_id)
            return
        if self.agent is None:
            raise HubError("not_identified", "send identify first")
        handler = handlers.get(kind)
        if handler is None:
            raise HubError(
                "unknown_message_type", f"unknown frame type {kind!r}", message_type=kind
            )
        await limits.admit(self, kind, frame)
        await handler(self, frame)

    # --- outbound ------------------------------------------------------------------
    async def send_frame(self, frame: dict[str, Any]) -> None:
        if self.closing:
            return
        try:
            await self.send(text_data=json.dumps(frame, separators=(",", ":")))
            metrics.frame_out(frame.get("type"))
        except OSError:
            # The client is already gone (uvicorn raises here); the disconnect that
            # follows must still run, so do not let the push kill the consumer.
            self.closing = True

    async def send_error(self, error: HubError) -> None:
        metrics.refused("ws", error.code)
        await self.send_frame({"type": "error", **error.as_dict()})
        if error.code in STRIKE_CODES:
            await self._strike()

    async def _strike(self) -> None:
        moment = time.monotonic()
        if self.strikes is None:
            self.strikes = deque()
        self.strikes.append(moment)
        window = settings.AGENTCOM_VALIDATION_WINDOW_S
        while self.strikes and self.strikes[0] < moment - window:
            self.strikes.popleft()
        if len(self.strikes) >= settings.AGENTCOM_VALIDATION_STRIKES:
            await self.close_with(*CLOSE_STRIKES)

    # --- channel layer messages (agents.push) ----------------------------------------
    async def agent_push(self, message: dict[str, Any]) -> None:
        if self.agent is None:
            return
        if message.get("exclude") and message["exclude"] == self.agent.agent_id:
            return
        await self.send_frame(message["frame"])

    async def agent_close(self, message: dict[str, Any]) -> None:
        self.replaced = message["code"] == 4000
        await self.close_with(message["code"], message.get("reason", ""))

    async def agent_join_group(self, message: dict[str, Any]) -> None:
        await self.channel_layer.group_add(message["group"], self.channel_name)

    async def agent_leave_group(self, message: dict[str, Any]) -> None:
        await self.channel_layer.group_discard(message["group"], self.channel_name)
