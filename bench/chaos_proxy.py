"""A loopback TCP proxy between one sidecar and its hub process, with faults on demand.

Each sidecar's `hub_url` points at its own `LinkProxy`, so the chaos runner can break one
agent's network without touching the others:

- `cut()`: close every connection at once and refuse new ones until `heal()` (the hub
  and the sidecar both see a clean close);
- `blackhole()`: stop forwarding without closing anything, for old and new connections:
  a half-open link that only the protocol's pings can detect. Connections blackholed
  stay dead (never forwarded, never closed by us) after `heal()`; only new ones work;
- `slow(delay_s)`: hold every chunk for `delay_s` before passing it on, in order.

`live_connections()` counts connections that still forward both ways: the sockets the
sidecar can actually use, which the end-of-run check compares with the hub's presence.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

CHUNK_BYTES = 65536


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    blackholed: bool = False
    closed: bool = False
    pumps: list[asyncio.Task[None]] = field(default_factory=list)

    def close(self) -> None:
        self.closed = True
        for writer in (self.client, self.upstream):
            with contextlib.suppress(Exception):
                writer.close()


class LinkProxy:
    """Listens on 127.0.0.1:<port> and forwards to 127.0.0.1:<target_port>."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.refusing = False
        self.blackholing = False
        self.delay_s = 0.0
        self.accepted = 0
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> LinkProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        pumps = [pump for link in self._links for pump in link.pumps]
        for link in list(self._links):
            link.close()  # both pumps see the end of their streams and return
        if pumps:
            await asyncio.wait(pumps, timeout=2)
        self._links.clear()

    # --- faults -------------------------------------------------------------------
    def cut(self) -> None:
        self.refusing = True
        for link in list(self._links):
            link.close()

    def blackhole(self) -> None:
        self.blackholing = True
        for link in self._links:
            link.blackholed = True

    def slow(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def heal(self) -> None:
        self.refusing = False
        self.blackholing = False
        self.delay_s = 0.0

    def live_connections(self) -> int:
        return sum(1 for link in self._links if not link.closed and not link.blackholed)

    # --- forwarding -----------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()  # the hub is down: the sidecar sees a refused connection
            return
        self.accepted += 1
        link = _Link(writer, up_writer, blackholed=self.blackholing)
        self._links.add(link)
        link.pumps = [
            asyncio.create_task(self._pump(link, reader, up_writer)),
            asyncio.create_task(self._pump(link, up_reader, writer)),
        ]
        await asyncio.gather(*link.pumps, return_exceptions=True)
        link.close()
        self._links.discard(link)

    async def _pump(
        self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while not link.closed:
                chunk = await reader.read(CHUNK_BYTES)
                if not chunk:
                    break
                if link.blackholed:
                    continue  # swallowed: neither end learns anything
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                    if link.closed or link.blackholed:
                        break
                writer.write(chunk)
                await writer.drain()
        except (OSError, ConnectionError):
            pass
        finally:
            # A blackholed link keeps its other half open: that is the half-open case.
            if not link.blackholed:
                link.close()
