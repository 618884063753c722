"""The sidecar's local socket for agent sessions (PROTOCOL.md §6.8).

``<sidecar dir>/mcp.sock``, a Unix socket only its owner may use: created with mode
0600 and every peer's uid checked. Requests and answers are JSON objects, one per line;
each request gets exactly one answer, in order. A line over REQUEST_MAX_BYTES, bad JSON
or a request of the wrong shape is answered with an error and the connection stays
usable; nothing a peer sends can stop the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

SOCKET_NAME = "mcp.sock"
REQUEST_MAX_BYTES = 1024 * 1024
ANSWER_MAX_BYTES = 16 * 1024 * 1024
READ_CHUNK = 64 * 1024

Answer = dict[str, Any]
Handler = Callable[[dict[str, Any]], Awaitable[Answer]]


def socket_path(sidecar_dir: Path) -> Path:
    return sidecar_dir / SOCKET_NAME


def refusal(code: str, detail: str, **extra: Any) -> Answer:
    return {"ok": False, "error": code, "detail": detail, **extra}


class LocalSocketServer:
    def __init__(self, path: Path, handler: Handler) -> None:
        self._path = path
        self._handler = handler
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Bind the socket (replacing a stale one, never anything else), owner-only."""
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISSOCK(os.lstat(self._path).st_mode):
                raise FileExistsError(f"{self._path} exists and is not a socket")
            os.unlink(self._path)
        previous = os.umask(0o177)  # born 0600: no moment where another user may connect
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self._path), limit=READ_CHUNK
            )
        finally:
            os.umask(previous)
        os.chmod(self._path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        with contextlib.suppress(OSError):
            os.unlink(self._path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            if _peer_uid(writer) not in (None, os.getuid()):
                return
            async for line in _lines(reader):
                answer = await self._answer(line)
                writer.write(_encode(answer))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, line: bytes | None) -> Answer:
        if line is None:
            return refusal("too_large", f"a request is at most {REQUEST_MAX_BYTES} bytes")
        try:
            request = json.loads(line)
        except (ValueError, RecursionError):
            return refusal("invalid_json", "a request is one JSON object on one line")
        if not isinstance(request, dict) or not isinstance(request.get("tool"), str):
            return refusal("invalid_request", 'a request is {"tool": name, "arguments": {...}}')
        try:
            return await self._handler(request)
        except Exception as exc:  # a bug in one tool must not end the session's socket
            return refusal("internal_error", f"the sidecar failed: {type(exc).__name__}")


async def _lines(reader: asyncio.StreamReader):
    """Yield each line (without its newline), or None for one over REQUEST_MAX_BYTES,
    whose rest is skipped up to its newline."""
    buffer = b""
    skipping = False
    while True:
        chunk = await reader.read(READ_CHUNK)
        if not chunk:
            return
        buffer += chunk
        while True:
            end = buffer.find(b"\n")
            if end < 0:
                break
            line, buffer = buffer[:end], buffer[end + 1 :]
            if skipping:
                skipping = False
                continue
            yield None if len(line) > REQUEST_MAX_BYTES else line
        if not skipping and len(buffer) > REQUEST_MAX_BYTES:
            skipping = True
            yield None
        if skipping:
            buffer = b""


def _encode(answer: Answer) -> bytes:
    data = json.dumps(answer, ensure_ascii=False).encode("utf-8", "replace")
    if len(data) > ANSWER_MAX_BYTES:
        data = json.dumps(refusal("too_large", "the answer was over 16 MiB")).encode()
    return data + b"\n"


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    option = getattr(socket, "SO_PEERCRED", None)
    if sock is None or option is None:
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    return struct.unpack("3i", raw)[1]


async def ask(path: Path, request: dict[str, Any]) -> Answer:
    """Send one request on a fresh connection and return its answer (the session's side)."""
    data = json.dumps(request, ensure_ascii=False).encode("utf-8", "replace") + b"\n"
    if len(data) > REQUEST_MAX_BYTES:
        return refusal("too_large", f"a request is at most {REQUEST_MAX_BYTES} bytes")
    try:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=ANSWER_MAX_BYTES)
    except OSError as exc:
        return refusal(
            "sidecar_unreachable",
            f"the sidecar is not running (no socket at {path}: {exc.strerror or exc})",
        )
    try:
        writer.write(data)
        await writer.drain()
        line = await reader.readline()
    except (OSError, ValueError) as exc:
        return refusal("sidecar_unreachable", f"the sidecar dropped the request: {exc}")
    finally:
        writer.close()
    try:
        answer = json.loads(line)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return refusal("sidecar_unreachable", "the sidecar closed the socket without an answer")
    return answer
