"""The dashboard socket `/ws/dashboard` (PROTOCOL.md §5).

Operators only: a staff session (AuthMiddlewareStack) and an allowed Origin
(`origin.SameOriginMiddleware`), else the upgrade is refused with 403. On connect the
socket gets a `snapshot`; feed events are buffered and sent as one `events` frame at most
every 100 ms; `request_snapshot` and `retry_task` are answered. Client frames are checked
in the order of §2.1 and refusals are error frames on an open socket.

The session is checked again before every client frame and every
`AGENTCOM_DASHBOARD_SESSION_CHECK_S` seconds: once it has ended (logout, expiry, the
staff flag removed, the password changed) the socket is closed with 4003 and nothing
more is sent or done.
"""

import asyncio
import json
import logging
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.http import HttpRequest

from agentcom_site.core.auth import operator_actor
from agentcom_site.core.clock import now_ms
from agentcom_site.core.errors import HubError
from agentcom_site.core.sockets import HubConsumer
from agentcom_site.core.validation import Strict, parse_frame, text, validate
from agentcom_site.dashboard.feed import DASHBOARD_GROUP
from agentcom_site.dashboard.state import dashboard_state
from tasks import queue

log = logging.getLogger(__name__)

BATCH_INTERVAL_S = 0.1
SESSION_ENDED = 4003
MAX_PENDING = 5_000  # past this a dashboard is told to resync instead of buffering more


class RetryTaskFrame(Strict):
    task_id: text("task_id", min_length=1)  # type: ignore[valid-type]


def is_operator(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


def session_is_operator(session: Any) -> bool:
    """Whether the session, as stored now, still belongs to an active staff user.

    `get_user` reloads the user and checks the session's auth hash, so a logout (the
    session deleted), an expiry, a password change or a removed staff flag all fail it.
    """
    if session is None or not session.session_key:
        return False
    request = HttpRequest()
    store = import_module(settings.SESSION_ENGINE).SessionStore
    request.session = store(session.session_key)  # a fresh read, not the socket's copy
    return is_operator(get_user(request))


def retry_outcome(task_id: str, actor: str) -> str:
    """`requeued`, `not_found` or `invalid_state`, through the same service as the API."""
    try:
        queue.retry_dead_letter(task_id, actor=actor)
    except HubError as error:
        return "not_found" if error.http_status == 404 else "invalid_state"
    return "requeued"


class DashboardConsumer(HubConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if not is_operator(user):
            await self.close()  # before accept: the handshake is refused with 403
            return
        self.actor = operator_actor(user.get_username())
        self.pending: list[dict[str, Any]] = []
        self.flusher: asyncio.Task | None = None
        self.closing = False
        await self.channel_layer.group_add(DASHBOARD_GROUP, self.channel_name)
        await self.accept()
        self.watcher = asyncio.ensure_future(self._watch_session())
        await self.send_snapshot()

    async def disconnect(self, code: int) -> None:
        for task in (getattr(self, "flusher", None), getattr(self, "watcher", None)):
            if task is not None:
                task.cancel()
        await self.channel_layer.group_discard(DASHBOARD_GROUP, self.channel_name)

    # --- the session -----------------------------------------------------------------
    async def _session_valid(self) -> bool:
        """Check the session; close the socket with 4003 once it has ended."""
        if self.closing:
            return False
        if await database_sync_to_async(session_is_operator)(self.scope.get("session")):
            return True
        self.closing = True
        await self.close(code=SESSION_ENDED, reason="session ended")
        return False

    async def _watch_session(self) -> None:
        # A periodic check, so a dashboard that only listens is closed too.
        while True:
            try:
                if not await self._session_valid():
                    return
            except Exception:  # the database is down: try again at the next check
                log.exception("dashboard session check failed")
            await asyncio.sleep(settings.AGENTCOM_DASHBOARD_SESSION_CHECK_S)

    # --- outbound ------------------------------------------------------------------
    async def send_frame(self, frame: dict[str, Any]) -> None:
        if self.closing:
            return
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def send_snapshot(self) -> None:
        data = await database_sync_to_async(dashboard_state)()
        await self.send_frame({"type": "snapshot", "data": data})

    async def dashboard_events(self, message: dict[str, Any]) -> None:
        """Feed events from any process: buffered, sent together within 100 ms."""
        if len(self.pending) >= MAX_PENDING:
            return  # the client resyncs from the snapshot the flush asks it to take
        self.pending.extend(message["events"])
        if self.flusher is None:
            self.flusher = asyncio.ensure_future(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(BATCH_INTERVAL_S)
        events, self.pending = self.pending, []
        self.flusher = None
        if len(events) >= MAX_PENDING:
            await self.send_snapshot()
            return
        await self.send_frame({"type": "events", "data": events})

    # --- inbound -------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not await self._session_valid():
            return
        try:
            frame = parse_frame(text_data, bytes_data)
            await self._dispatch(frame)
        except HubError as error:
            await self.send_frame({"type": "error", **error.as_dict()})

    async def _dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "ping":
            await self.send_frame({"type": "pong", "timestamp": now_ms()})
        elif kind == "request_snapshot":
            await self.send_snapshot()
        elif kind == "retry_task":
            task_id = validate(RetryTaskFrame, frame, message_type=kind).task_id
            outcome = await database_sync_to_async(retry_outcome)(task_id, self.actor)
            await self.send_frame({"type": "retry_result", "task_id": task_id, "status": outcome})
        else:
            raise HubError(
                "unknown_message_type", f"unknown frame type {kind!r}", message_type=kind
            )
