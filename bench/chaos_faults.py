"""The faults a chaos run injects: drawn from the run's seed, applied to its processes.

`plan(rng, ...)` draws every fault of a run up front (moment, kind, target, how long),
so a seed names the same schedule every time; `apply(fault, run)` carries one out and
heals it. Faults on the same target never overlap (a sidecar is not killed while it is
stopped); faults on different targets may.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

EMBEDDED_KINDS = (
    "hub_kill",
    "sidecar_kill",
    "sidecar_stop",
    "agent_kill",
    "cut_within_grace",
    "cut_past_grace",
    "half_open",
    "slow_link",
)
SCALED_KINDS = (*EMBEDDED_KINDS, "worker_kill", "redis_restart", "pg_terminate")


def kinds_for(mode: str) -> tuple[str, ...]:
    return SCALED_KINDS if mode == "scaled" else EMBEDDED_KINDS


def plan(
    rng: random.Random,
    *,
    mode: str,
    agents: list[str],
    hubs: int,
    workers: int,
    window_s: float,
    count: int,
    ping_ttl_s: float,
    grace_s: float,
) -> list[dict[str, Any]]:
    """`count` faults at moments in [0, window_s), sorted by moment."""
    faults = []
    for _ in range(count):
        kind = rng.choice(kinds_for(mode))
        fault: dict[str, Any] = {"at": round(rng.uniform(0, window_s), 2), "kind": kind}
        if kind == "hub_kill":
            fault["target"] = f"asgi-{rng.randrange(hubs)}"
            fault["hold"] = round(rng.uniform(0.2, grace_s + 1.5), 2)  # back within or past
        elif kind == "worker_kill":
            fault["target"] = f"worker-{rng.randrange(workers)}"
            fault["hold"] = round(rng.uniform(0.2, 1.5), 2)
        elif kind in ("redis_restart", "pg_terminate"):
            fault["target"] = "*"
            fault["hold"] = round(rng.uniform(0.2, 1.5), 2)
        else:
            fault["target"] = rng.choice(agents)
            fault["hold"] = round(_hold(rng, kind, ping_ttl_s, grace_s), 2)
        if kind == "slow_link":
            fault["delay"] = round(rng.uniform(0.2, 0.8), 2)
        faults.append(fault)
    return sorted(faults, key=lambda f: f["at"])


def _hold(rng: random.Random, kind: str, ping_ttl_s: float, grace_s: float) -> float:
    if kind == "sidecar_kill":
        return rng.uniform(0.1, grace_s + 1.5)
    if kind == "sidecar_stop":
        return ping_ttl_s + rng.uniform(0.5, 2.0)  # past the TTL: the hub closes the socket
    if kind == "cut_within_grace":
        return rng.uniform(0.1, grace_s * 0.4)
    if kind == "cut_past_grace":
        return grace_s + rng.uniform(1.0, 2.5)
    if kind == "half_open":
        return rng.uniform(1.5, 4.0)
    if kind == "slow_link":
        return rng.uniform(1.5, 3.0)
    return 0.0  # agent_kill: instantaneous


def _lock_key(fault: dict[str, Any]) -> str:
    kind, target = fault["kind"], fault["target"]
    if kind in ("sidecar_kill", "sidecar_stop"):
        return f"sidecar:{target}"
    if kind in ("cut_within_grace", "cut_past_grace", "half_open", "slow_link"):
        return f"link:{target}"
    return f"{kind}:{target}"


async def apply(fault: dict[str, Any], run: Any, locks: dict[str, asyncio.Lock]) -> dict:
    """Carry out one fault and heal it; returns the fault with when it really started
    and ended (seconds since the run's start)."""
    lock = locks.setdefault(_lock_key(fault), asyncio.Lock())
    async with lock:
        started = time.monotonic()
        kind, target, hold = fault["kind"], fault["target"], fault["hold"]
        if kind in ("hub_kill", "worker_kill"):
            proc = run.procs[target]
            run.down.add(target)
            await asyncio.to_thread(proc.kill)
            await asyncio.sleep(hold)
            await asyncio.to_thread(proc.start)
            run.down.discard(target)
        elif kind == "sidecar_kill":
            await asyncio.to_thread(run.sidecars[target].kill)
            await asyncio.sleep(hold)
            run.sidecars[target].start()
        elif kind == "sidecar_stop":
            run.sidecars[target].signal(signal.SIGSTOP)
            try:
                await asyncio.sleep(hold)
            finally:
                run.sidecars[target].signal(signal.SIGCONT)
        elif kind == "agent_kill":
            fault["killed"] = kill_fake_agents(run.sidecars[target].dir)
        elif kind in ("cut_within_grace", "cut_past_grace", "half_open", "slow_link"):
            proxy = run.proxies[target]
            if kind == "half_open":
                proxy.blackhole()
            elif kind == "slow_link":
                proxy.slow(fault["delay"])
            else:
                proxy.cut()
            await asyncio.sleep(hold)
            proxy.heal()
        elif kind == "redis_restart":
            await asyncio.to_thread(run.redis.kill)
            await asyncio.sleep(hold)
            await asyncio.to_thread(run.redis.start)
        elif kind == "pg_terminate":
            fault["terminated"] = await asyncio.to_thread(run.terminate_backends)
        ended = time.monotonic()
    return {
        **fault,
        "started": round(started - run.t0, 2),
        "ended": round(ended - run.t0, 2),
    }


def fake_agents_under(directory: Path) -> list[int]:
    """Fake agent processes working in `directory` (or below it): they detach from the
    sidecar into a session of their own, so they are found by their working directory."""
    found = []
    root = str(directory.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if b"sidecar.fake_agent" not in (entry / "cmdline").read_bytes():
                continue
            cwd = os.readlink(entry / "cwd")
            if cwd == root or cwd.startswith(root + os.sep):
                found.append(int(entry.name))
    return found


def kill_fake_agents(directory: Path) -> int:
    killed = 0
    for pid in fake_agents_under(directory):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed
