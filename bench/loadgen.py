"""Load-generator processes: many agents per process, each a real WebSocket client.

A `Fleet` spreads agents over several processes (multiprocessing, spawn) so the client
side is not the bottleneck. Each agent connects, identifies, optionally pings (with a
random phase), and on `task_assign` does what its behaviour says. Like the sidecar, agents
identify with `"presence": false` unless the fleet is told to listen to presence pushes.

- "complete": `task_accepted` then `task_complete` at once (stays available);
- "hold":     `task_accepted` only (keeps the task);
- "none":     nothing.

Timestamps are `time.perf_counter_ns()` (CLOCK_MONOTONIC, the same clock in every
process on the machine), so the controller can subtract its own send times.
Workers report to the controller over a pipe: `ready`, streamed `assign`/`done` events
(when asked), periodic `progress` counts, and a final `result`.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PROGRESS_PERIOD_S = 0.1


@dataclass
class AgentSpec:
    agent_id: str
    token: str
    url: str
    capabilities: list[str] = field(default_factory=list)


# --- the worker process ------------------------------------------------------------------


def worker_main(cfg: dict[str, Any], cmd_conn, evt_conn) -> None:
    from bench.hubwrap import raise_nofile

    raise_nofile()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    runner(Worker(cfg, cmd_conn, evt_conn).run())


class Worker:
    def __init__(self, cfg: dict[str, Any], cmd_conn, evt_conn) -> None:
        self.cfg = cfg
        self.cmd_conn = cmd_conn
        self.evt_conn = evt_conn
        self.behaviour: str = cfg["behaviour"]
        self.stream: bool = cfg.get("stream", False)
        self.record: bool = cfg.get("record", False)
        self.ping_interval: float = cfg.get("ping_interval", 0)
        self.agents: list[AgentSpec] = [AgentSpec(**a) for a in cfg["agents"]]
        self.sockets: list[Any] = []
        self.pingers: set[asyncio.Task] = set()  # kept referenced while they run
        self.identify_ns: list[tuple[int, int]] = []
        self.failures: list[str] = []
        self.assigned = 0
        self.done = 0
        self.assign_log: list[tuple[str, int]] = []
        self.done_log: list[tuple[str, int]] = []
        self.pong_ns: list[int] = []
        self.last_done_ns = 0
        self.other_frames = 0
        self.pending_events: list[tuple] = []
        self.stopping = False

    def send(self, message: tuple) -> None:
        self.evt_conn.send(message)

    async def run(self) -> None:
        import websockets  # noqa: F401

        self.loop = asyncio.get_running_loop()
        sem = asyncio.Semaphore(self.cfg.get("connect_concurrency", 100))
        readers = [asyncio.create_task(self._agent(spec, sem)) for spec in self.agents]
        await self._wait_connected(len(readers))
        cpu0 = time.process_time()
        self.send(
            (
                "ready",
                {
                    "identified": len(self.identify_ns),
                    "failures": self.failures[:20],
                    "failed": len(self.failures),
                    "identify_ns": self.identify_ns,
                },
            )
        )
        flusher = asyncio.create_task(self._flush_loop())
        command = await self.loop.run_in_executor(None, self._next_command)
        while True:
            kind = command[0]
            if kind == "stop":
                break
            if kind == "collect":
                self.send(("collected", {"assign": self.assign_log, "done": self.done_log}))
                self.assign_log, self.done_log = [], []
            command = await self.loop.run_in_executor(None, self._next_command)
        self.stopping = True
        flusher.cancel()
        self._flush()
        self.send(
            (
                "result",
                {
                    "assigned": self.assigned,
                    "done": self.done,
                    "last_done_ns": self.last_done_ns,
                    "assign": self.assign_log,
                    "done_log": self.done_log,
                    "pong_ns": self.pong_ns[-20000:],
                    "other_frames": self.other_frames,
                    "cpu_s": time.process_time() - cpu0,
                },
            )
        )
        if command[1:] and command[1] == "close":
            await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)
        os._exit(0)  # sockets are dropped by the kernel; no orderly close storm

    def _next_command(self):
        try:
            return self.cmd_conn.recv()
        except EOFError:
            return ("stop",)

    async def _wait_connected(self, n: int) -> None:
        deadline = time.monotonic() + self.cfg.get("connect_timeout", 300)
        while len(self.identify_ns) + len(self.failures) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_PERIOD_S)
            self._flush()
            self.send(("progress", self.assigned, self.done, self.last_done_ns))

    def _flush(self) -> None:
        if self.pending_events:
            events, self.pending_events = self.pending_events, []
            self.send(("events", events))

    def _event(self, event: tuple) -> None:
        if self.stream:
            if not self.pending_events:
                self.loop.call_soon(self._flush)
            self.pending_events.append(event)

    async def _agent(self, spec: AgentSpec, sem: asyncio.Semaphore) -> None:
        import websockets

        ws = None
        async with sem:
            started = time.perf_counter_ns()
            for attempt in range(5):
                try:
                    ws = await websockets.connect(
                        spec.url,
                        ping_interval=None,
                        open_timeout=120,
                        close_timeout=1,
                        max_size=8 * 1024 * 1024,
                    )
                    await ws.send(
                        json.dumps(
                            {
                                "type": "identify",
                                "agent_id": spec.agent_id,
                                "token": spec.token,
                                "capabilities": spec.capabilities,
                                "status": "idle",
                                "client_type": "bench",
                                "presence": self.cfg.get("presence", False),
                                "protocol_version": 1,
                            }
                        )
                    )
                    while True:
                        raw = await asyncio.wait_for(ws.recv(), 120)
                        if '"identified"' in raw:
                            break
                        if '"type":"error"' in raw:
                            raise RuntimeError(raw[:200])
                    break
                except Exception as exc:
                    if ws is not None:
                        await ws.close()
                        ws = None
                    if attempt == 4:
                        self.failures.append(f"{spec.agent_id}: {exc!r}"[:300])
                        return
                    await asyncio.sleep(0.5 * (attempt + 1))
            self.identify_ns.append((started, time.perf_counter_ns()))
        self.sockets.append(ws)
        if self.ping_interval > 0:
            pinger = asyncio.create_task(self._pinger(ws))
            self.pingers.add(pinger)
            pinger.add_done_callback(self.pingers.discard)
        await self._read(ws)

    async def _pinger(self, ws) -> None:
        await asyncio.sleep(random.uniform(0, self.ping_interval))
        while True:
            self._ping_sent = time.perf_counter_ns()
            try:
                await ws.send(f'{{"type":"ping","ts":{time.perf_counter_ns()}}}')
            except Exception:
                return
            await asyncio.sleep(self.ping_interval)

    async def _read(self, ws) -> None:
        behaviour = self.behaviour
        try:
            async for raw in ws:
                at = time.perf_counter_ns()
                if '"type":"task_assign"' in raw:
                    frame = json.loads(raw)
                    task_id = frame["task_id"]
                    self.assigned += 1
                    if self.record:
                        self.assign_log.append((task_id, at))
                    self._event(("assign", task_id, at))
                    if behaviour in ("complete", "hold"):
                        await ws.send(
                            json.dumps(
                                {
                                    "type": "task_accepted",
                                    "task_id": task_id,
                                    "generation": frame["generation"],
                                }
                            )
                        )
                    if behaviour == "complete":
                        await ws.send(
                            json.dumps(
                                {
                                    "type": "task_complete",
                                    "task_id": task_id,
                                    "generation": frame["generation"],
                                    "result": {"status": "success", "output": "ok"},
                                }
                            )
                        )
                elif '"type":"task_ack"' in raw:
                    if '"status":"complete"' in raw:
                        frame = json.loads(raw)
                        self.done += 1
                        self.last_done_ns = at
                        if self.record:
                            self.done_log.append((frame["task_id"], at))
                        self._event(("done", frame["task_id"], at))
                elif '"type":"pong"' in raw:
                    pass
                else:
                    self.other_frames += 1
        except Exception:
            return


# --- the controller side -------------------------------------------------------------------


class Fleet:
    """Agents spread over `processes` worker processes. Use `async with`."""

    def __init__(
        self,
        agents: list[AgentSpec],
        *,
        processes: int,
        behaviour: str = "complete",
        stream: bool = False,
        record: bool = False,
        ping_interval: float = 0,
        presence: bool = False,
        connect_concurrency: int = 100,
        connect_timeout: float = 300,
    ) -> None:
        self.agents = agents
        self.processes = max(1, min(processes, len(agents)))
        self.cfg = dict(
            behaviour=behaviour,
            stream=stream,
            record=record,
            ping_interval=ping_interval,
            presence=presence,
            connect_concurrency=connect_concurrency,
            connect_timeout=connect_timeout,
        )
        self.ctx = mp.get_context("spawn")
        self.workers: list[tuple[Any, Any, Any]] = []  # (process, cmd_parent, evt_parent)
        self.ready: list[dict] = []
        self.results: list[dict | None] = []
        self.progress: dict[int, tuple[int, int, int]] = {}
        self.on_event: Callable[[tuple], None] | None = None
        self._threads: list[threading.Thread] = []
        self._inbox: dict[int, asyncio.Queue] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.started_ns = 0

    async def start(self) -> Fleet:
        self.loop = asyncio.get_running_loop()
        shares = [self.agents[i :: self.processes] for i in range(self.processes)]
        self.started_ns = time.perf_counter_ns()
        for index, share in enumerate(shares):
            cmd_child, cmd_parent = self.ctx.Pipe(duplex=False)
            evt_parent, evt_child = self.ctx.Pipe(duplex=False)
            cfg = {**self.cfg, "agents": [a.__dict__ for a in share]}
            proc = self.ctx.Process(
                target=worker_main, args=(cfg, cmd_child, evt_child), daemon=True
            )
            proc.start()
            cmd_child.close()
            evt_child.close()
            self.workers.append((proc, cmd_parent, evt_parent))
            self._inbox[index] = asyncio.Queue()
            thread = threading.Thread(target=self._pump, args=(index, evt_parent), daemon=True)
            thread.start()
            self._threads.append(thread)
        self.ready = [await self._expect(i, "ready") for i in range(len(self.workers))]
        self.results = [None] * len(self.workers)
        return self

    def _pump(self, index: int, conn) -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                self.loop.call_soon_threadsafe(self._inbox[index].put_nowait, ("eof",))
                return
            kind = message[0]
            if kind == "progress":
                self.progress[index] = message[1:]
            elif kind == "events":
                if self.on_event is not None:
                    self.loop.call_soon_threadsafe(self._deliver, message[1])
            else:
                self.loop.call_soon_threadsafe(self._inbox[index].put_nowait, message)

    def _deliver(self, events: list[tuple]) -> None:
        for event in events:
            self.on_event(event)

    async def _expect(self, index: int, kind: str, timeout: float = 900) -> dict:
        message = await asyncio.wait_for(self._inbox[index].get(), timeout)
        if message[0] != kind:
            raise RuntimeError(f"worker {index}: expected {kind}, got {message[0]}")
        return message[1]

    # -- figures ---------------------------------------------------------------------
    @property
    def identified(self) -> int:
        return sum(r["identified"] for r in self.ready)

    @property
    def failures(self) -> list[str]:
        return [f for r in self.ready for f in r["failures"]]

    def identify_span_ns(self) -> tuple[int, int, list[int]]:
        pairs = [p for r in self.ready for p in r["identify_ns"]]
        if not pairs:
            return 0, 0, []
        first = min(s for s, _ in pairs)
        last = max(e for _, e in pairs)
        return first, last, [e - s for s, e in pairs]

    def totals(self) -> tuple[int, int, int]:
        assigned = sum(p[0] for p in self.progress.values())
        done = sum(p[1] for p in self.progress.values())
        last = max((p[2] for p in self.progress.values()), default=0)
        return assigned, done, last

    async def collect(self) -> tuple[list, list]:
        for _, cmd, _ in self.workers:
            cmd.send(("collect",))
        assign, done = [], []
        for i in range(len(self.workers)):
            got = await self._expect(i, "collected")
            assign += got["assign"]
            done += got["done"]
        return assign, done

    def kill_worker(self, index: int) -> None:
        """SIGKILL one worker: the kernel drops all its sockets at once."""
        proc = self.workers[index][0]
        os.kill(proc.pid, signal.SIGKILL)

    async def stop(self, *, close: bool = False) -> list[dict | None]:
        for proc, cmd, _ in self.workers:
            if proc.is_alive():
                try:
                    cmd.send(("stop", "close") if close else ("stop",))
                except OSError:
                    continue
        for index, (proc, _, _) in enumerate(self.workers):
            if proc.is_alive() or not self._inbox[index].empty():
                try:
                    message = await asyncio.wait_for(self._inbox[index].get(), 60)
                    if message[0] == "result":
                        self.results[index] = message[1]
                except TimeoutError:
                    pass
        self.terminate()
        return self.results

    def terminate(self) -> None:
        for proc, cmd, evt in self.workers:
            if proc.is_alive():
                proc.kill()
            proc.join(5)
            for conn in (cmd, evt):
                try:
                    conn.close()
                except OSError:
                    pass

    async def __aenter__(self) -> Fleet:
        try:
            return await self.start()
        except BaseException:
            self.terminate()
            raise

    async def __aexit__(self, *exc: Any) -> None:
        self.terminate()


def specs(tokens: dict[str, str], urls: list[str], capabilities=None) -> list[AgentSpec]:
    """Agent i goes to urls[i % len(urls)]."""
    out = []
    for i, (agent_id, token) in enumerate(tokens.items()):
        caps = capabilities(i) if callable(capabilities) else (capabilities or [])
        out.append(AgentSpec(agent_id, token, urls[i % len(urls)], caps))
    return out
