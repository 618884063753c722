"""Chaos runs: real hub processes, real sidecars, faults at random moments; then the books.

    python bench/chaos.py --mode embedded|scaled --runs N --seed S [--agents 4] [--tasks 12]

Each run starts a fresh backend (embedded: one `runhub` on SQLite; scaled: two
`runhub --no-scheduler`, two `manage.py schedule` workers, a database of its own on the
Postgres at BENCH_PG_BASE and a `redis-server` of its own on a free port), a few
sidecars whose fake agents differ (quick, slow, always failing, never reporting), each
behind its own loopback proxy (`bench/chaos_proxy.py`), and submits a batch of tasks
while the faults drawn from the run's seed (`bench/chaos_faults.py`) hit it. When every
fault is healed it waits for every task to end, then judges the run
(`bench/chaos_checks.py`): nothing lost, nothing completed twice, generations rising,
one task per agent at a time, every double execution explained, no holder left holding,
no agent online without a socket, and `/health` answering throughout.

Run i uses seed S+i: `--seed <that> --runs 1` replays its fault schedule. Figures go to
stdout and to bench/results/chaos-<mode>-<time>.json (rewritten after every run); the
logs of a failing run are kept under bench/results/chaos-failures/<mode>-<seed>/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import chaos_faults
from bench.chaos_checks import FINAL, Event, bouncing, judge
from bench.chaos_proxy import LinkProxy
from bench.harness import PG_BASE, RESULTS, Backend, free_port, summary_ms
from tests.e2e.harness import HubProcess
from tests.sidecar.harness import PYTHON, SidecarProcess, fast_config

PING_TTL_S = 3.0
GRACE_S = 2.0
HUB_ENV = {
    "AGENTCOM_PING_TTL_S": str(PING_TTL_S),
    "AGENTCOM_RECONNECT_GRACE_S": str(GRACE_S),
    "AGENTCOM_SWEEP_INTERVAL_S": "0.2",
    "AGENTCOM_ACCEPT_TIMEOUT_S": "3",
    "AGENTCOM_STUCK_AFTER_S": "4",  # above the slow agent's delay plus the sidecar's
    "AGENTCOM_LOG_LEVEL": "WARNING",
}
# name: (delay in seconds, outcome) of the fake agents; a run takes them in turn.
AGENT_KINDS = {
    "quick": (0.2, "success"),
    "slow": (1.5, "success"),
    "flaky": (0.3, "failure"),
    "mute": (0.2, "none"),  # never reports: only the stuck timer takes its task back
    "steady": (0.6, "success"),
}
FAULT_WINDOW_S = 6.0
RECOVERY_BOUND_S = 30.0  # every task final within this after the last fault is healed
# Presence and sidecar slots agree with the hub within this. A sidecar whose handshake
# went into a half-open link notices only at websockets' opening timeout (10 s, which the
# sidecar keeps), then reconnects and reports.
HANDSHAKE_TIMEOUT_S = 10.0
SETTLE_S = max(PING_TTL_S + 4.0, HANDSHAKE_TIMEOUT_S + 4.0)
HEALTH_EVERY_S = 0.25
HEALTH_TIMEOUT_S = 2.0


class Template:
    """One migrated database with the run's agents and an operator token, copied per run
    (a migration costs seconds; a copy costs milliseconds)."""

    def __init__(self, mode: str, agents: list[str]) -> None:
        self.backend = Backend(mode, label="chaos-template")
        # Each run has its own redis-server; the template never needs one.
        self.backend.redis_prefix = None
        self.backend.env["REDIS_URL"] = ""
        self.tokens = self.backend.create_agents([(a, ["code"]) for a in agents])
        self.operator = self.backend.operator_token()

    def drop(self) -> None:
        self.backend.drop()


class Redis:
    """The run's own redis-server, restartable on its port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        with open(self.workdir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on {self.port}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Run:
    """One run: its backend, processes, proxies, and what it observed."""

    def __init__(self, args: argparse.Namespace, template: Template, seed: int) -> None:
        self.args, self.template, self.seed = args, template, seed
        self.mode = args.mode
        self.rng = random.Random(seed)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"agentcom-chaos-{seed}-"))
        self.data_dir = self.workdir / "hub-data"
        self.env: dict[str, str] = {"AGENTCOM_DATA_DIR": str(self.data_dir)}
        self.database: str | None = None
        self.redis: Redis | None = None
        self.procs: dict[str, HubProcess] = {}
        self.sidecars: dict[str, SidecarProcess] = {}
        self.proxies: dict[str, LinkProxy] = {}
        self.down: set[str] = set()
        self.health_ms: list[float] = []
        self.health_failures: list[str] = []
        self.t0 = time.monotonic()

    # --- setting up -------------------------------------------------------------------
    def prepare_backend(self) -> None:
        source = self.template.backend
        if self.mode == "embedded":
            shutil.copytree(
                source.data_dir, self.data_dir, ignore=shutil.ignore_patterns("hub.lock")
            )
            self.env.update(DATABASE_URL="", REDIS_URL="")
            return
        self.data_dir.mkdir()
        self.database = f"agentcom_chaos_{self.seed}_{random.randrange(16**6):06x}"
        Backend._pg_admin(f'CREATE DATABASE "{self.database}" TEMPLATE "{source.database}"')
        self.redis = Redis(self.workdir)
        self.redis.start()
        self.env.update(
            DATABASE_URL=f"{PG_BASE}/{self.database}",
            REDIS_URL=self.redis.url,
            AGENTCOM_REDIS_PREFIX=f"chaos-{self.seed}",
        )

    def hub_processes(self) -> None:
        env = {**HUB_ENV, **self.env}
        if self.mode == "embedded":
            self.procs["asgi-0"] = HubProcess(self, env=env, name="asgi-0")
            return
        for i in range(2):
            self.procs[f"asgi-{i}"] = HubProcess(self, env=env, no_scheduler=True, name=f"asgi-{i}")
        for i in range(2):
            self.procs[f"worker-{i}"] = HubProcess(self, env=env, worker=True, name=f"worker-{i}")

    @property
    def asgi(self) -> list[HubProcess]:
        return [p for name, p in self.procs.items() if name.startswith("asgi")]

    async def start_fleet(self) -> None:
        for index, agent_id in enumerate(self.template.tokens):
            delay, outcome = AGENT_KINDS[agent_id.split("-")[1]]
            hub = self.asgi[index % len(self.asgi)]
            self.proxies[agent_id] = await LinkProxy(hub.port).start()
            directory = self.workdir / agent_id
            directory.mkdir()
            config = fast_config(
                f"ws://127.0.0.1:{self.proxies[agent_id].port}/ws",
                agent_id=agent_id,
                token=self.template.tokens[agent_id],
                capabilities=["code"],
                wake_command=(
                    'printf "%s %s\\n" "${TASK_ID}" "${TASK_GENERATION}" >> executions.log'
                    f" && {PYTHON} -m sidecar.fake_agent --delay {delay} --outcome {outcome}"
                ),
            )
            self.sidecars[agent_id] = SidecarProcess(directory, config).start()

    # --- during the run ---------------------------------------------------------------
    async def watch_health(self, stop: asyncio.Event) -> None:
        """GET /health on every ASGI process, a few times a second, while it should be up."""
        while not stop.is_set():
            for name, hub in (item for item in self.procs.items() if item[0].startswith("asgi")):
                if name in self.down:
                    continue
                started = time.monotonic()
                try:
                    status, _ = await asyncio.wait_for(
                        hub.ahttp("GET", "/health"), HEALTH_TIMEOUT_S
                    )
                    ok = status == 200
                except (OSError, TimeoutError):
                    ok = False
                if name in self.down:
                    continue  # killed while we asked
                if ok:
                    self.health_ms.append((time.monotonic() - started) * 1000)
                else:
                    self.health_failures.append(f"{name} at {started - self.t0:.1f}s")
            await asyncio.sleep(HEALTH_EVERY_S)

    async def submit(self, index: int) -> str:
        """POST one task; retried under its idempotency key while its hub is down."""
        body = {
            "description": f"chaos task {index}",
            "priority": self.rng.choice(["high", "normal", "low"]),
            "max_retries": self.rng.choice([1, 3, 3]),
            "needed_capabilities": ["code"],
            "idempotency_key": f"chaos-{index}",
        }
        hub = self.asgi[index % len(self.asgi)]
        deadline = time.monotonic() + RECOVERY_BOUND_S
        while True:
            try:
                status, answer = await hub.ahttp("POST", "/api/tasks", body, self.template.operator)
                if status in (200, 201):
                    return answer["task_id"]
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"task {index} could not be submitted")
            await asyncio.sleep(0.2)

    async def submit_all(self, count: int) -> list[str]:
        ids: list[str] = []
        for batch in range(3):  # a third at the start, the rest while faults land
            await asyncio.sleep(batch * FAULT_WINDOW_S / 3 - (time.monotonic() - self.t0))
            share = range(batch * count // 3, (batch + 1) * count // 3)
            ids += await asyncio.gather(*(self.submit(i) for i in share))
        return ids

    # --- reading the outcome ----------------------------------------------------------
    def query(self, sql: str) -> list[tuple]:
        if self.mode == "embedded":
            path = self.data_dir / "agentcom.sqlite3"
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
                return db.execute(sql).fetchall()
        import psycopg

        with psycopg.connect(self.env["DATABASE_URL"]) as conn:
            return conn.execute(sql).fetchall()

    def statuses(self) -> dict[str, str]:
        return dict(self.query("SELECT id, status FROM tasks_task"))

    def events(self) -> list[Event]:
        rows = self.query(
            "SELECT id, task_id, seq, event, agent_id, reason, generation FROM tasks_taskevent"
        )
        return [Event(*row) for row in rows]

    def terminate_backends(self) -> int:
        """pg_terminate_backend on every connection to this run's database, no other."""
        import psycopg

        with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.database,),
            ).fetchall()
        return len(rows)

    def executions(self) -> dict[str, list[tuple[str, int]]]:
        out = {}
        for agent_id, sidecar in self.sidecars.items():
            path = sidecar.dir / "executions.log"
            lines = path.read_text().split("\n") if path.exists() else []
            out[agent_id] = [(t, int(g)) for t, g in (ln.split() for ln in lines if ln.strip())]
        return out

    def sidecar_events(self, name: str) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for agent_id, sidecar in self.sidecars.items():
            found = set()
            if sidecar.log_file.exists():
                for line in sidecar.log_file.read_text(errors="replace").splitlines():
                    if f'"event": "{name}"' in line:
                        found.add(json.loads(line).get("task_id"))
            out[agent_id] = found
        return out

    def slots(self) -> dict[str, list[str]]:
        out = {}
        for agent_id, sidecar in self.sidecars.items():
            try:
                queue = sidecar.queue()
            except ValueError:
                queue = {}  # being rewritten; read again on the next poll
            out[agent_id] = [
                t["task_id"] for t in (queue.get("active"), queue.get("recovering")) if t
            ]
        return out

    async def online(self) -> set[str]:
        status, body = await self.asgi[0].ahttp("GET", "/api/agents", token=self.template.operator)
        return {a["agent_id"] for a in body["agents"]} if status == 200 else set()

    def connected(self) -> set[str]:
        return {
            agent_id
            for agent_id, sidecar in self.sidecars.items()
            if sidecar.process.poll() is None and self.proxies[agent_id].live_connections()
        }

    # --- the run ----------------------------------------------------------------------
    async def execute(self) -> dict[str, Any]:
        self.prepare_backend()
        self.hub_processes()
        await asyncio.gather(*(asyncio.to_thread(p.start) for p in self.procs.values()))
        await self.start_fleet()
        faults = chaos_faults.plan(
            self.rng,
            mode=self.mode,
            agents=list(self.sidecars),
            hubs=len(self.asgi),
            workers=len(self.procs) - len(self.asgi),
            window_s=FAULT_WINDOW_S,
            count=self.rng.randint(2, self.args.max_faults),
            ping_ttl_s=PING_TTL_S,
            grace_s=GRACE_S,
        )
        stop_health = asyncio.Event()
        health = asyncio.create_task(self.watch_health(stop_health))
        locks: dict[str, asyncio.Lock] = {}
        self.t0 = time.monotonic()

        async def at_its_moment(fault: dict) -> dict:
            await asyncio.sleep(fault["at"])
            return await chaos_faults.apply(fault, self, locks)

        submitting = asyncio.create_task(self.submit_all(self.args.tasks))
        applied = await asyncio.gather(*(at_its_moment(f) for f in faults))
        task_ids = await submitting
        healed = time.monotonic()

        deadline = healed + RECOVERY_BOUND_S
        while time.monotonic() < deadline:
            unfinished = {t for t, s in self.statuses().items() if s not in FINAL}
            if not unfinished or unfinished <= bouncing(self.events()):
                break  # done, or caught in a loop that waiting will not end
            await asyncio.sleep(0.2)
        recovered_s = time.monotonic() - healed

        # One sidecar leaves for good: the hub must stop showing it online.
        gone = self.rng.choice(list(self.sidecars))
        self.sidecars[gone].kill()
        settle = time.monotonic() + SETTLE_S
        while True:
            online, connected, slots = await self.online(), self.connected(), self.slots()
            if (online == connected and not any(slots.values())) or time.monotonic() > settle:
                break
            await asyncio.sleep(0.2)
        stop_health.set()
        await health

        statuses = self.statuses()
        events = self.events()
        loops = sorted(t for t in bouncing(events) if statuses[t] not in FINAL)
        verdict = judge(
            statuses,
            events,
            self.executions(),
            applied,
            self.sidecar_events("task_dropped"),
            slots,
            online,
            connected,
        )
        if set(task_ids) != set(statuses) or len(set(task_ids)) != self.args.tasks:
            verdict.violations.append(f"submitted {len(set(task_ids))}, stored {len(statuses)}")
        verdict.violations += [
            f"{t} bounces between `stuck` reclaims and its silent holder" for t in loops
        ]
        if self.health_failures:
            verdict.violations.append(f"/health failed at {', '.join(self.health_failures)}")
        return {
            "seed": self.seed,
            "faults": applied,
            "tasks": len(statuses),
            "by_status": dict(Counter(statuses.values())),
            "recovered_s": round(recovered_s, 2),
            "health_ms": summary_ms(self.health_ms, already_ms=True),
            **verdict.figures,
            "stuck_loops": len(loops),
            "violations": verdict.violations,
        }

    def teardown(self, keep_logs: bool) -> None:
        for sidecar in self.sidecars.values():
            if sidecar.process and sidecar.process.poll() is None:
                sidecar.process.send_signal(signal.SIGCONT)
                sidecar.kill()
        chaos_faults.kill_fake_agents(self.workdir)
        for proc in self.procs.values():
            proc.kill()
        if self.redis:
            self.redis.kill()
        if self.database:
            Backend._pg_admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        if keep_logs:
            target = RESULTS / "chaos-failures" / f"{self.mode}-{self.seed}"
            shutil.copytree(
                self.workdir,
                target,
                ignore=shutil.ignore_patterns("hub.lock", "*.tmp"),
                dirs_exist_ok=True,
            )
        shutil.rmtree(self.workdir, ignore_errors=True)


async def one_run(args: argparse.Namespace, template: Template, seed: int) -> dict[str, Any]:
    run = Run(args, template, seed)
    outcome: dict[str, Any] = {"seed": seed}
    try:
        outcome = await run.execute()
    except Exception as exc:  # a run that cannot finish is a failing run, with its seed
        outcome["violations"] = [f"run error: {type(exc).__name__}: {exc}"]
    finally:
        for proxy in run.proxies.values():
            await proxy.close()
        run.teardown(keep_logs=bool(outcome.get("violations")))
    return outcome


def summarise(mode: str, outcomes: list[dict]) -> dict[str, Any]:
    faults = Counter(f["kind"] for o in outcomes for f in o.get("faults", []))
    failing_kinds = Counter(
        kind
        for o in outcomes
        if o.get("violations")
        for kind in {f["kind"] for f in o.get("faults", [])}
    )
    reasons: Counter[str] = Counter()
    for o in outcomes:
        reasons.update(o.get("double_reasons", {}))
    health = [o["health_ms"] for o in outcomes if o.get("health_ms", {}).get("n")]

    def total(key: str) -> int:
        return sum(o.get(key, 0) for o in outcomes)

    return {
        "mode": mode,
        "runs": len(outcomes),
        "failing_runs": len([o for o in outcomes if o.get("violations")]),
        "failing_seeds": [o["seed"] for o in outcomes if o.get("violations")],
        "faults_by_kind": dict(sorted(faults.items())),
        "failing_runs_by_fault_kind": dict(sorted(failing_kinds.items())),
        "tasks": total("tasks"),
        "lost": total("lost"),
        "completed_twice": total("completed_twice"),
        "stuck_loops": total("stuck_loops"),
        "double_executions": total("double_executions"),
        "double_explained": total("double_explained"),
        "double_reasons": dict(reasons),
        "reclaimed_past_grace": total("reclaimed_past_grace"),
        "told_to_stop": total("told_to_stop"),
        "worst_recovery_s": max((o.get("recovered_s", 0) for o in outcomes), default=0),
        "health_p50_ms_worst": max((h["p50"] for h in health), default=None),
        "health_max_ms": max((h["max"] for h in health), default=None),
    }


async def campaign(args: argparse.Namespace) -> int:
    kinds = args.kinds.split(",")
    agents = [f"chaos-{kinds[i % len(kinds)]}-{i}" for i in range(args.agents)]
    template = await asyncio.to_thread(Template, args.mode, agents)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"chaos-{args.mode}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    outcomes: list[dict] = []
    try:
        for i in range(args.runs):
            seed = args.seed + i
            started = time.monotonic()
            outcome = await one_run(args, template, seed)
            outcome["duration_s"] = round(time.monotonic() - started, 1)
            outcomes.append(outcome)
            kinds = " ".join(f["kind"] for f in outcome.get("faults", []))
            verdict = "FAIL" if outcome.get("violations") else "ok"
            print(
                f"run {i + 1}/{args.runs} seed {seed}: {verdict} in {outcome['duration_s']}s"
                f" [{kinds}]",
                flush=True,
            )
            for violation in outcome.get("violations", [])[:10]:
                print(f"    {violation}", flush=True)
            summary = summarise(args.mode, outcomes)
            out.write_text(json.dumps({"summary": summary, "runs": outcomes}, indent=2))
    finally:
        template.drop()
    print(f"\n== chaos [{args.mode}] ==")
    for key, value in summarise(args.mode, outcomes).items():
        print(f"  {key}: {value}")
    print(f"  results: {out}")
    return 1 if any(o.get("violations") for o in outcomes) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("embedded", "scaled"), default="embedded")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--agents", type=int, default=4, help="sidecars per run (3 to 5)")
    parser.add_argument("--tasks", type=int, default=12, help="tasks per run")
    parser.add_argument(
        "--kinds",
        default=",".join(AGENT_KINDS),
        help=f"fake agents, taken in turn (of {', '.join(AGENT_KINDS)})",
    )
    parser.add_argument("--max-faults", type=int, default=4, help="faults per run: 2 to this")
    args = parser.parse_args()
    if unknown := set(args.kinds.split(",")) - set(AGENT_KINDS):
        parser.error(f"unknown agent kinds: {', '.join(sorted(unknown))}")
    return asyncio.run(campaign(args))


if __name__ == "__main__":
    sys.exit(main())
