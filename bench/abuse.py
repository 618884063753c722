"""The abuse benchmark: replay the attacks of one hostile client, print what they cost.

    python bench/abuse.py [--mode embedded|scaled] [--upload-mib 1024] [--idle-sockets 20000]
                          [--offline-agents 300] [--broadcasts 20] [--storm-seconds 10]

Against a fresh hub, one after the other:
- a body declared as --upload-mib MiB, and one streamed chunked until the hub cuts it
  off: the answer, how much the hub read, and its RSS at most during the attempt;
- --idle-sockets WebSocket handshakes that never identify, spread over loopback source
  addresses (127.0.x.y): how many the hub accepted or refused (429, 503), `/health`
  latency while they are open, and whether an agent with a valid token still connects;
- amplification: --broadcasts broadcasts of a 60 KiB payload while --offline-agents
  agents are offline: database bytes per broadcast;
- a broadcast storm from one agent with 50 listeners for --storm-seconds: how many were
  accepted or refused (`rate_limited`), `/health` latency and hub CPU meanwhile.
Not a test: figures only, with results JSON in bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import resource
import sqlite3
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import websockets

from bench import harness
from bench.harness import Backend, HubSet, summary_ms

MIB = 1024 * 1024
PAYLOAD_BYTES = 60 * 1024


class RssPeak:
    """Samples a process's RSS every 20 ms on a thread; `peak` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = harness.rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, harness.rss_bytes(self.pid))

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class HealthProbe:
    """Polls GET /health every 20 ms while open; latencies in ms."""

    def __init__(self, port: int) -> None:
        self.conn = harness.HttpConn(port)
        self.samples: list[float] = []
        self.failures = 0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            try:
                status, _ = await asyncio.wait_for(self.conn.request("GET", "/health"), 10)
                if status != 200:
                    self.failures += 1
            except (TimeoutError, OSError, ConnectionError, asyncio.IncompleteReadError):
                self.failures += 1
                await self.conn.close()
            self.samples.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(0.02)

    async def __aenter__(self) -> HealthProbe:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.conn.close()

    def figures(self) -> dict:
        return {**summary_ms(self.samples, already_ms=True), "failures": self.failures}


async def _status_of(reader: asyncio.StreamReader, timeout: float) -> int | None:
    with contextlib.suppress(TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        line = await asyncio.wait_for(reader.readline(), timeout)
        return int(line.split()[1]) if line.startswith(b"HTTP/") else None
    return None


# --- 1. large bodies ------------------------------------------------------------------------


async def declared_upload(port: int, mib: int, pid: int) -> dict:
    """Announce mib MiB, send 1 MiB of it, see whether the hub answers before the rest."""
    with RssPeak(pid) as rss:
        before = rss.peak
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = (
            f"POST /api/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {mib * MIB}\r\n\r\n"
        )
        start = time.perf_counter()
        writer.write(head.encode() + b"[" * MIB)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        status = await _status_of(reader, timeout=30)
        elapsed = time.perf_counter() - start
        writer.close()
    return {
        "status": status,
        "answered_after_s": round(elapsed, 3),
        "rss_rise_mb": round((rss.peak - before) / MIB, 1),
    }


async def chunked_upload(port: int, mib: int, pid: int) -> dict:
    """Stream mib MiB chunked; stop when the hub answers or closes."""
    with RssPeak(pid) as rss:
        before = rss.peak
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /api/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n" % MIB + b" " * MIB + b"\r\n"
        sent = 0
        answer: asyncio.Task = asyncio.create_task(_status_of(reader, timeout=600))
        start = time.perf_counter()
        try:
            while sent < mib and not answer.done():
                writer.write(chunk)
                await writer.drain()
                sent += 1
        except (ConnectionError, OSError):
            pass
        status = await answer
        elapsed = time.perf_counter() - start
        writer.close()
    return {
        "status": status,
        "mib_sent_before_answer": sent,
        "answered_after_s": round(elapsed, 3),
        "rss_rise_mb": round((rss.peak - before) / MIB, 1),
    }


# --- 2. idle sockets ----------------------------------------------------------------------


def _source_address(n: int) -> str:
    block = 2 + n // 64  # 64 sockets per source address, from 127.0.0.2 on
    return f"127.0.{block // 250}.{2 + block % 250}"


async def idle_sockets(port: int, count: int, pid: int, agent_token: str) -> dict:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held: list[asyncio.StreamWriter] = []
    outcomes: dict[str, int] = {}
    gate = asyncio.Semaphore(200)

    async def handshake(n: int) -> None:
        async with gate:
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", port, local_addr=(_source_address(n), 0)
                )
            except OSError as exc:
                outcomes[f"connect_error_{exc.errno}"] = (
                    outcomes.get(f"connect_error_{exc.errno}", 0) + 1
                )
                return
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write(
                (
                    f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            status = await _status_of(reader, timeout=30)
            outcomes[str(status)] = outcomes.get(str(status), 0) + 1
            if status == 101:
                held.append(writer)
            else:
                writer.close()

    rss_before = harness.rss_bytes(pid)
    async with HealthProbe(port) as probe:
        start = time.perf_counter()
        await asyncio.gather(*(handshake(n) for n in range(count)))
        attempted_s = time.perf_counter() - start
        agent_connect_ms = None
        with contextlib.suppress(Exception):
            begin = time.perf_counter()
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
                await ws.send(
                    json.dumps({"type": "identify", "agent_id": "abuse-ok", "token": agent_token})
                )
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if reply.get("type") == "identified":
                    agent_connect_ms = round((time.perf_counter() - begin) * 1000, 1)
    figures = {
        "attempted": count,
        "outcomes": outcomes,
        "attempt_s": round(attempted_s, 1),
        "health_ms_while_open": probe.figures(),
        "agent_identified_ms": agent_connect_ms,
        "rss_rise_mb": round((harness.rss_bytes(pid) - rss_before) / MIB, 1),
    }
    for writer in held:
        writer.close()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return figures


# --- 3. amplification and 4. a storm ---------------------------------------------------------


def database_bytes(backend: Backend) -> int:
    if backend.mode == "embedded":
        db = sqlite3.connect(backend.data_dir / "agentcom.sqlite3", timeout=20)
        with contextlib.closing(db):
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            pages, size = (
                db.execute("PRAGMA page_count").fetchone()[0],
                db.execute("PRAGMA page_size").fetchone()[0],
            )
            free = db.execute("PRAGMA freelist_count").fetchone()[0]
            return (pages - free) * size
    import psycopg

    with psycopg.connect(backend.env["DATABASE_URL"], autocommit=True) as conn:
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]


async def identified(port: int, agent_id: str, token: str):
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", max_size=8 * MIB)
    await ws.send(json.dumps({"type": "identify", "agent_id": agent_id, "token": token}))
    while json.loads(await ws.recv()).get("type") != "identified":
        pass
    return ws


async def answers(ws, count: int, timeout: float = 30) -> dict[str, int]:
    """Read count answers to broadcasts (message_sent or error), by kind."""
    kinds: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    while sum(kinds.values()) < count and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            frame = json.loads(await asyncio.wait_for(ws.recv(), 1))
            if frame.get("type") == "message_sent":
                kinds["accepted"] = kinds.get("accepted", 0) + 1
            elif frame.get("type") == "error":
                kinds[frame.get("error", "error")] = kinds.get(frame.get("error", "error"), 0) + 1
    return kinds


async def amplification(port: int, backend: Backend, sender_token: str, broadcasts: int) -> dict:
    ws = await identified(port, "abuse-sender", sender_token)
    before = database_bytes(backend)
    payload = {"blob": "x" * PAYLOAD_BYTES}
    for _ in range(broadcasts):
        await ws.send(json.dumps({"type": "message", "to": "broadcast", "payload": payload}))
    outcome = await answers(ws, broadcasts)
    await ws.close()
    await asyncio.sleep(1)  # mailbox writes after the last push
    grown = database_bytes(backend) - before
    accepted = outcome.get("accepted", 0)
    return {
        "broadcasts": broadcasts,
        "outcomes": outcome,
        "db_bytes_grown": grown,
        "db_bytes_per_accepted_broadcast": round(grown / accepted) if accepted else None,
    }


async def storm(port: int, hubs: HubSet, tokens: dict[str, str], seconds: float) -> dict:
    listeners = [await identified(port, f"abuse-l{i}", tokens[f"abuse-l{i}"]) for i in range(50)]
    attacker = await identified(port, "abuse-storm", tokens["abuse-storm"])
    cpu_before = hubs.cpu()
    sent = 0
    async with HealthProbe(port) as probe:
        outcome_task = asyncio.create_task(answers(attacker, 10**9, timeout=seconds + 5))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await attacker.send(
                json.dumps({"type": "message", "to": "broadcast", "payload": {"n": sent}})
            )
            sent += 1
            if sent % 50 == 0:
                await asyncio.sleep(0)
        outcome = await outcome_task
    cpu = harness.cpu_delta(cpu_before, hubs.cpu())
    for ws in [*listeners, attacker]:
        await ws.close()
    return {
        "sent": sent,
        "outcomes": outcome,
        "health_ms_during": probe.figures(),
        "hub_cpu_s": round(cpu, 2),
    }


# --- main ------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict:
    backend = Backend(args.mode, label="abuse")
    try:
        names = [f"abuse-off{i}" for i in range(args.offline_agents)]
        names += [f"abuse-l{i}" for i in range(50)]
        names += ["abuse-sender", "abuse-storm", "abuse-ok"]
        tokens = backend.create_agents([(name, []) for name in names])
        with HubSet(backend, hubs=1, workers=1 if args.mode == "scaled" else 0) as hubs:
            proc = hubs.asgi[0]
            figures = {
                "declared_upload": await declared_upload(proc.port, args.upload_mib, proc.pid),
                "chunked_upload": await chunked_upload(proc.port, args.upload_mib, proc.pid),
                "idle_sockets": await idle_sockets(
                    proc.port, args.idle_sockets, proc.pid, tokens["abuse-ok"]
                ),
            }
            hubs.check_alive()
            figures["amplification"] = await amplification(
                proc.port, backend, tokens["abuse-sender"], args.broadcasts
            )
            figures["storm"] = await storm(proc.port, hubs, tokens, args.storm_seconds)
            hubs.check_alive()
            figures["hub_rss_mb_at_end"] = round(hubs.rss() / MIB, 1)
        return figures
    finally:
        backend.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=harness.MODES, default="embedded")
    parser.add_argument("--upload-mib", type=int, default=1024)
    parser.add_argument("--idle-sockets", type=int, default=20_000)
    parser.add_argument("--offline-agents", type=int, default=300)
    parser.add_argument("--broadcasts", type=int, default=20)
    parser.add_argument("--storm-seconds", type=float, default=10)
    args = parser.parse_args()
    harness.ensure_venv()
    figures = asyncio.run(run(args))
    path = harness.write_result("abuse", args.mode, "daphne", vars(args), figures, [])
    harness.print_figures("abuse", args.mode, "daphne", figures, [], path)


if __name__ == "__main__":
    main()
