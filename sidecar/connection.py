"""The hub WebSocket: identify, heartbeat, reconnect (§6.3).

The connection owns liveness and authentication; every other frame goes to a
FrameHandler (the relay). Task frames are only sent on an identified socket, so
anything the relay could not send is its to resend after ``on_identified``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from sidecar.config import SidecarConfig
from sidecar.logs import EventLog
from sidecar.resources import ResourceProbe

PROTOCOL_VERSION = 1
AUTH_ERRORS = frozenset({"invalid_token", "token_agent_mismatch"})
REPLACED_CLOSE_CODE = 4000
MAX_FRAME_BYTES = 4 * 1024 * 1024
JITTER = 0.10


class FrameHandler(Protocol):
    async def on_identified(self) -> None: ...

    async def on_frame(self, frame: dict[str, Any]) -> None: ...

    def on_disconnected(self) -> None: ...


class HubConnection:
    """Keeps one identified socket to the hub open until close() is called."""

    def __init__(self, config: SidecarConfig, log: EventLog, handler: FrameHandler) -> None:
        self._config = config
        self._log = log
        self._handler = handler
        self._ws: ClientConnection | None = None
        self._identified = False
        self._pong = asyncio.Event()
        self._stop = asyncio.Event()
        self._delay_ms = float(config.reconnect_base_ms)
        self._pause_for_auth = False
        self._connecting: asyncio.Task[None] | None = None

    @property
    def identified(self) -> bool:
        return self._identified

    async def run(self) -> None:
        """Connect, and reconnect after every close, until close() is called."""
        while not self._stop.is_set():
            self._pause_for_auth = False
            self._connecting = asyncio.create_task(self._session())
            try:
                await self._connecting
            except asyncio.CancelledError:
                if not self._stop.is_set():
                    raise
            except (OSError, TimeoutError, ConnectionClosed) as exc:
                self._log.warning("ws_error", error=str(exc) or type(exc).__name__)
            except Exception as exc:  # handshake refusals, bad URLs: keep retrying, never die
                self._log.error("ws_error", error=f"{type(exc).__name__}: {exc}")
            finally:
                self._ws = None
                self._identified = False
                self._handler.on_disconnected()
            if self._stop.is_set():
                break
            await self._wait_before_reconnect()

    async def send(self, frame: dict[str, Any]) -> bool:
        """Send frame on the identified socket; False if there is none or it just closed."""
        ws = self._ws
        if ws is None or not self._identified:
            self._log.debug(
                "send_skipped", frame_type=frame.get("type"), task_id=frame.get("task_id")
            )
            return False
        return await self._send_on(ws, frame)

    async def close(self) -> None:
        """Stop reconnecting and close the socket with 1000 "shutdown"."""
        self._stop.set()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close(1000, "shutdown")
        elif self._connecting is not None:
            self._connecting.cancel()  # still in the opening handshake: nothing to close

    async def _session(self) -> None:
        async with connect(
            self._config.hub_url,
            ping_interval=None,  # liveness is the protocol's own ping/pong
            close_timeout=2,
            max_size=MAX_FRAME_BYTES,
        ) as ws:
            if self._stop.is_set():
                await ws.close(1000, "shutdown")
                return
            self._ws = ws
            self._log.info("ws_open", hub_url=self._config.hub_url)
            await self._send_on(ws, self._identify_frame())
            heartbeat = asyncio.create_task(self._heartbeat(ws))
            reports = asyncio.create_task(self._report_resources(ws))
            try:
                async for message in ws:
                    await self._dispatch(ws, message)
            except ConnectionClosed:
                pass
            finally:
                for duty in (heartbeat, reports):
                    duty.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await duty
            code, reason = ws.close_code, ws.close_reason
        level = "info" if self._stop.is_set() else "warning"
        self._log.write(level, "ws_close", code=code, reason=reason or "")
        if code == REPLACED_CLOSE_CODE:
            self._log.warning("replaced", detail="another connection identified as this agent")
            self._pause_for_auth = True

    def _identify_frame(self) -> dict[str, Any]:
        return {
            "type": "identify",
            "agent_id": self._config.agent_id,
            "token": self._config.token,
            "name": self._config.agent_id,
            "status": "idle",
            "capabilities": self._config.capabilities,
            "client_type": "sidecar",
            # The sidecar only logs presence pushes; opting out keeps a large fleet's
            # identify storm linear instead of quadratic.
            "presence": False,
            # Operator answers reach a waiting session (sidecar.operatoranswers).
            "features": ["input_required"],
        }

    async def _dispatch(self, ws: ClientConnection, message: str | bytes) -> None:
        try:
            frame = json.loads(message)
        except ValueError as exc:
            self._log.error("ws_message_parse_error", error=str(exc))
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            self._log.error("ws_message_parse_error", error="frame is not an object with a type")
            return
        kind = frame["type"]
        if kind == "pong":
            self._pong.set()
        elif kind == "identified":
            self._identified = True
            self._delay_ms = float(self._config.reconnect_base_ms)
            self._log.info("identified", hub_agent_id=frame.get("agent_id"))
            await self._call(self._handler.on_identified())
        elif kind == "error" and frame.get("error") in AUTH_ERRORS:
            self._log.error("hub_error", error=frame.get("error"), detail=frame.get("detail"))
            self._pause_for_auth = True
            await ws.close(1000, "authentication failed")
        elif kind == "error" and not self._identified:
            # Only identify is sent before `identified`: the hub could not bind this socket
            # (e.g. its channel layer was down). Start over rather than wait on it.
            self._log.error("hub_error", error=frame.get("error"), detail=frame.get("detail"))
            await ws.close(1000, "identify failed")
        else:
            await self._call(self._handler.on_frame(frame))

    async def _call(self, handling: Any) -> None:
        try:
            await handling
        except Exception as exc:  # a bug in one frame's handling must not drop the link
            self._log.error("frame_handler_error", error=f"{type(exc).__name__}: {exc}")

    async def _heartbeat(self, ws: ClientConnection) -> None:
        interval = self._config.ping_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            self._pong.clear()
            if not await self._send_on(ws, {"type": "ping"}):
                return
            try:
                await asyncio.wait_for(self._pong.wait(), self._config.pong_timeout_ms / 1000)
            except TimeoutError:
                self._log.warning("heartbeat_timeout", timeout_ms=self._config.pong_timeout_ms)
                ws.transport.abort()
                return

    async def _report_resources(self, ws: ClientConnection) -> None:
        """`resource_report` a few seconds after connecting, then at every interval.
        The machine is read in a worker thread (nvidia-smi may take a while)."""
        probe = await asyncio.to_thread(ResourceProbe)
        await asyncio.sleep(self._config.resource_report_delay_ms / 1000)
        while True:
            try:
                frame = await asyncio.to_thread(probe.report)
            except Exception as exc:  # a machine we cannot read must not drop the link
                self._log.warning("resource_report_failed", error=f"{type(exc).__name__}: {exc}")
                frame = None
            if frame is not None and self._identified:
                await self._send_on(ws, frame)
            await asyncio.sleep(self._config.resource_report_interval_ms / 1000)

    async def _send_on(self, ws: ClientConnection, frame: dict[str, Any]) -> bool:
        payload = {**frame, "protocol_version": PROTOCOL_VERSION}
        try:
            await ws.send(json.dumps(payload, ensure_ascii=False))
        except ConnectionClosed:
            return False
        return True

    async def _wait_before_reconnect(self) -> None:
        if self._pause_for_auth:
            delay_ms = float(self._config.auth_retry_ms)
        else:
            delay_ms = self._delay_ms * (1 + random.uniform(0, JITTER))
            self._delay_ms = min(self._delay_ms * 2, float(self._config.reconnect_max_ms))
        self._log.info("reconnect_scheduled", delay_ms=round(delay_ms))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay_ms / 1000)
