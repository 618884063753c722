"""Shared machinery of the benchmark scripts (not tests; nothing here imports tests/).

- `Backend`: a fresh SQLite data dir (embedded) or a fresh Postgres database plus a
  unique Redis prefix (scaled), migrated; agents and tokens created in bulk.
- `HubSet`: the hub's processes for a mode and a server: `manage.py runhub` (daphne)
  or uvicorn, N ASGI processes and `manage.py schedule` workers in scaled mode; CPU and
  RSS read from /proc; always cleaned up.
- `HttpConn`: a keep-alive HTTP/1.1 client on asyncio streams (one request at a time).
- floors (HTTP /health, WebSocket ping/pong, one database commit), percentiles,
  results JSON, PASS/MISS verdicts, py-spy profiles.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PLOTS = ROOT / "docs" / "bench"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PG_BASE = os.getenv("BENCH_PG_BASE", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.getenv("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
START_TIMEOUT_S = 60
MODES = ("embedded", "scaled")
SERVERS = ("daphne", "uvicorn")


def ensure_venv() -> None:
    """Re-run the script with the project's venv interpreter if started with another."""
    if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])


def python() -> str:
    return str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def now_ns() -> int:
    return time.perf_counter_ns()  # CLOCK_MONOTONIC: comparable across processes


# --- statistics ------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def summary_ms(values_ns: list[int] | list[float], *, already_ms: bool = False) -> dict[str, float]:
    values = sorted(v if already_ms else v / 1e6 for v in values_ns)
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "mean": round(sum(values) / len(values), 3),
        "p50": round(percentile(values, 50), 3),
        "p95": round(percentile(values, 95), 3),
        "p99": round(percentile(values, 99), 3),
        "max": round(values[-1], 3),
    }


# --- machine ---------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    versions: dict[str, str] = {}
    from importlib import metadata

    for dist in (
        "Django",
        "channels",
        "daphne",
        "channels-redis",
        "uvicorn",
        "websockets",
        "uvloop",
        "psycopg",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "git": git_revision(),
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
        "loadavg_at_start": list(os.getloadavg()),
    }


def git_revision() -> str:
    """HEAD's short hash, plus "+dirty" when hub code differs from it (others edit the
    checkout while benchmarks run, so each result says which code it measured)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--",
                "agentcom_site",
                "agents",
                "tasks",
                "messaging",
                "requirements.txt",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# --- /proc readings --------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds; 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except OSError:
        return 0


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def pids_named(*names: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() in names:
                    found.append(int(entry.name))
    return found


# --- backends ---------------------------------------------------------------------------

DJANGO_PRELUDE = (
    "import django,os,sys;os.environ.setdefault('DJANGO_SETTINGS_MODULE',"
    "'agentcom_site.settings');sys.path.insert(0,os.getcwd());django.setup();"
    "exec(sys.stdin.read())"
)

CREATE_AGENTS = """
import json, sys
from django.db import transaction
from agents.models import Agent, AgentToken, new_token
spec = json.loads(open(sys.argv[1]).read())
out = {}
with transaction.atomic():
    Agent.objects.bulk_create(
        [Agent(agent_id=a, name=a, capabilities=c) for a, c in spec], batch_size=1000
    )
    wanted = Agent.objects.filter(agent_id__in=[a for a, _ in spec])
    by_id = dict(wanted.values_list("agent_id", "pk"))
    rows = []
    for agent_id, _ in spec:
        token = new_token()
        row = AgentToken(agent_id=by_id[agent_id])
        row.set_token(token)
        rows.append(row)
        out[agent_id] = token
    AgentToken.objects.bulk_create(rows, batch_size=1000)
print(json.dumps(out))
"""

OPERATOR_TOKEN = """
from agents.tokens import issue_operator_token
print(issue_operator_token("bench")[1])
"""


class Backend:
    """Where one run's hub keeps its state; `drop()` removes it."""

    def __init__(self, mode: str, *, label: str = "bench") -> None:
        assert mode in MODES, mode
        self.mode = mode
        self.workdir = Path(tempfile.mkdtemp(prefix=f"agentcom-{label}-"))
        self.data_dir = self.workdir / "hub-data"
        self.data_dir.mkdir()
        self.env: dict[str, str] = {"AGENTCOM_DATA_DIR": str(self.data_dir)}
        self.database: str | None = None
        self.redis_prefix: str | None = None
        if mode == "scaled":
            self.database = f"agentcom_bench_{secrets.token_hex(4)}"
            self._pg_admin(f'CREATE DATABASE "{self.database}"')
            self.redis_prefix = f"agentcom-bench-{secrets.token_hex(4)}"
            self.env.update(
                DATABASE_URL=f"{PG_BASE}/{self.database}",
                REDIS_URL=REDIS_URL,
                AGENTCOM_REDIS_PREFIX=self.redis_prefix,
            )
        else:
            # The parent's settings must not leak into the embedded run.
            self.env.update(DATABASE_URL="", REDIS_URL="")
        self.manage("migrate", "-v0")

    # -- admin ---------------------------------------------------------------------
    @staticmethod
    def _pg_admin(sql: str) -> None:
        import psycopg

        with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as conn:
            conn.execute(sql)

    def drop(self) -> None:
        if self.database:
            with contextlib.suppress(Exception):
                self._pg_admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        if self.redis_prefix:
            with contextlib.suppress(Exception):
                import redis

                client = redis.Redis.from_url(REDIS_URL)
                keys = list(client.scan_iter(f"{self.redis_prefix}*", count=1000))
                for i in range(0, len(keys), 500):
                    client.delete(*keys[i : i + 500])
        shutil.rmtree(self.workdir, ignore_errors=True)

    def child_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1", **(extra or {})}
        return {k: v for k, v in env.items() if v != "" or k not in ("DATABASE_URL", "REDIS_URL")}

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [python(), str(ROOT / "manage.py"), *args],
            env=self.child_env(),
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def django(self, script: str, *argv: str, timeout: float = 600) -> str:
        """Run `script` in one Django process against this backend; returns stdout."""
        result = subprocess.run(
            [python(), "-c", DJANGO_PRELUDE, *argv],
            input=script,
            env=self.child_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
        if result.returncode != 0:
            raise RuntimeError(result.stderr[-4000:])
        return result.stdout

    def create_agents(self, specs: list[tuple[str, list[str]]]) -> dict[str, str]:
        """Agents and one token each, in bulk: {agent_id: token}."""
        path = self.workdir / "agents.json"  # a file: argv is too small for 10 000 agents
        path.write_text(json.dumps(specs))
        out = self.django(CREATE_AGENTS, str(path))
        return json.loads(out.strip().splitlines()[-1])

    def operator_token(self) -> str:
        return self.django(OPERATOR_TOKEN).strip().splitlines()[-1]

    # -- the commit floor ------------------------------------------------------------
    def commit_floor_ns(self, n: int) -> list[int]:
        """One single-row INSERT + COMMIT on the hub's own database, n times."""
        samples = []
        if self.mode == "embedded":
            db = sqlite3.connect(
                self.data_dir / "agentcom.sqlite3", isolation_level=None, timeout=20
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS bench_floor (id INTEGER PRIMARY KEY, v TEXT)")
            for i in range(n):
                start = now_ns()
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO bench_floor (v) VALUES (?)", (f"row {i}",))
                db.execute("COMMIT")
                samples.append(now_ns() - start)
            db.close()
        else:
            import psycopg

            with psycopg.connect(self.env["DATABASE_URL"]) as conn:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS bench_floor (id serial PRIMARY KEY, v text)"
                )
                conn.commit()
                for i in range(n):
                    start = now_ns()
                    conn.execute("INSERT INTO bench_floor (v) VALUES (%s)", (f"row {i}",))
                    conn.commit()
                    samples.append(now_ns() - start)
        return samples

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.drop()


# --- hub processes -----------------------------------------------------------------------


@dataclass
class Proc:
    role: str  # "asgi" or "worker"
    popen: subprocess.Popen
    log_path: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class HubSet:
    """The hub processes of one run. Use as a context manager: always stopped."""

    backend: Backend
    server: str = "daphne"
    hubs: int = 1
    workers: int = 0
    env: dict[str, str] = field(default_factory=dict)
    stock_redis: bool = False  # scaled: keep redis-py's 5 s socket timeout (see settings_override)
    procs: list[Proc] = field(default_factory=list)

    @property
    def asgi(self) -> list[Proc]:
        return [p for p in self.procs if p.role == "asgi"]

    @property
    def scheduler_workers(self) -> list[Proc]:
        return [p for p in self.procs if p.role == "worker"]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def _spawn(self, role: str, argv: list[str], env: dict[str, str], port: int | None) -> Proc:
        name = f"{role}-{len(self.procs)}"
        log_path = self.backend.workdir / f"{name}.log"
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                [python(), str(BENCH / "hubwrap.py"), *argv],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        proc = Proc(role, popen, log_path, port)
        self.procs.append(proc)
        return proc

    def start(self) -> HubSet:
        mode = self.backend.mode
        embedded = mode == "embedded"
        if not embedded and not self.stock_redis:
            self.env = {"DJANGO_SETTINGS_MODULE": "bench.settings_override", **self.env}
        hubs = 1 if embedded else self.hubs
        workers = self.workers
        if not embedded and workers < 1:
            workers = 1
        if embedded:
            workers = 0
        try:
            for _ in range(hubs):
                port = free_port()
                env = self.backend.child_env({**self.env})
                if self.server == "daphne":
                    argv = [python(), str(ROOT / "manage.py"), "runhub", "--port", str(port)]
                    if not embedded:
                        argv.append("--no-scheduler")
                else:
                    # The hub's ASGI lifespan handler starts what runhub starts: liveness
                    # and, unless AGENTCOM_EMBEDDED_SCHEDULER is off, scheduler and sweep.
                    if not embedded:
                        env["AGENTCOM_EMBEDDED_SCHEDULER"] = "false"
                    argv = [
                        python(),
                        "-m",
                        "uvicorn",
                        os.getenv("BENCH_UVICORN_APP", "agentcom_site.asgi:application"),
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--lifespan",
                        "on",
                        "--ws-max-size",
                        str(4 * 1024 * 1024),
                        # As runhub does for daphne: frames are small JSON and liveness
                        # is the protocol's ping frame, so no per-socket zlib state
                        # (~40 KB each) and no WebSocket-level pings.
                        "--ws-per-message-deflate",
                        "false",
                        "--ws-ping-interval",
                        "86400",
                        "--ws-ping-timeout",
                        "86400",
                        "--no-access-log",
                        "--log-level",
                        "warning",
                        "--backlog",
                        "4096",
                    ]
                self._spawn("asgi", argv, env, port)
            for _ in range(workers):
                env = self.backend.child_env({**self.env})
                self._spawn("worker", [python(), str(ROOT / "manage.py"), "schedule"], env, None)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        pending = list(self.procs)
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "hub did not start in time:\n" + "\n".join(p.log()[-2000:] for p in pending)
                )
            for proc in list(pending):
                if proc.popen.poll() is not None:
                    raise RuntimeError(f"{proc.role} exited {proc.popen.returncode}:\n{proc.log()}")
                if proc.role == "worker":
                    if "scheduler worker running" in proc.log():
                        pending.remove(proc)
                elif _http_ok(proc.port):
                    pending.remove(proc)
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGKILL: connected clients must not trigger a disconnect storm while the
        hub shuts down, and nothing of the run's state is needed afterwards."""
        for proc in self.procs:
            if proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.popen.wait(10)
        self.keep_logs()

    def keep_logs(self) -> None:
        """Copy the hub processes' logs (if they said anything) to bench/results/logs/."""
        target = RESULTS / "logs"
        for proc in self.procs:
            with contextlib.suppress(OSError):
                if proc.log_path.stat().st_size > 0:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy(
                        proc.log_path, target / f"{self.backend.workdir.name}-{proc.log_path.name}"
                    )

    def cpu(self) -> dict[int, float]:
        return {pid: cpu_seconds(pid) for pid in self.pids}

    def rss(self, role: str | None = "asgi") -> int:
        return sum(rss_bytes(p.pid) for p in self.procs if role is None or p.role == role)

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.role} {proc.pid} died:\n{proc.log()[-3000:]}")

    def __enter__(self) -> HubSet:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _http_ok(port: int | None) -> bool:
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/health")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


# --- HTTP ------------------------------------------------------------------------------


class HttpConn:
    """A keep-alive HTTP/1.1 connection on asyncio streams; one request at a time."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.sent_at = 0

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
            self.writer = None

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        for attempt in range(3):
            try:
                return await self._request(method, path, body)
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _request(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if self.writer is None:
            await self._open()
        data = json.dumps(body).encode() if body is not None else b""
        head = [
            f"{method} {path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Connection: keep-alive",
            f"Content-Length: {len(data)}",
        ]
        if data:
            head.append("Content-Type: application/json")
        if self.token:
            head.append(f"Authorization: Bearer {self.token}")
        self.sent_at = now_ns()
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        raw_head = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            payload = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            payload = b"".join(chunks)
        else:
            payload = await self.reader.read()
            await self.close()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        try:
            return status, json.loads(payload) if payload else None
        except ValueError:
            return status, payload.decode(errors="replace")


# --- floors ------------------------------------------------------------------------------


async def http_floor_ns(port: int, n: int, max_seconds: float = 60) -> list[int]:
    conn = HttpConn(port)
    samples = []
    deadline = time.monotonic() + max_seconds
    try:
        for _ in range(n):
            if time.monotonic() > deadline:
                break
            start = now_ns()
            status, _ = await conn.request("GET", "/health")
            samples.append(now_ns() - start)
            assert status == 200, status
    finally:
        await conn.close()
    return samples


async def ws_echo_floor_ns(ws_url: str, n: int, max_seconds: float = 60) -> list[int]:
    import websockets

    samples = []
    deadline = time.monotonic() + max_seconds
    async with websockets.connect(ws_url, ping_interval=None, open_timeout=60) as ws:
        for _ in range(n):
            if time.monotonic() > deadline:
                break
            start = now_ns()
            await ws.send('{"type":"ping"}')
            while True:
                frame = await ws.recv()
                if '"pong"' in frame:
                    break
            samples.append(now_ns() - start)
    return samples


# --- results and verdicts ------------------------------------------------------------------


def verdict(name: str, value: float | None, op: str, target: float, unit: str = "") -> dict:
    if value is None or value != value:  # None or NaN
        ok = False
    else:
        ok = value <= target if op == "<=" else value >= target
    return {
        "target": name,
        "value": None if value is None else round(value, 3),
        "op": op,
        "limit": target,
        "unit": unit,
        "verdict": "PASS" if ok else "MISS",
    }


def server_label(mode: str, server: str, params: dict) -> str:
    """The server as results and the report name it: variants of a run get their own row."""
    if params.get("stock_redis") and mode == "scaled":
        server = f"{server}+stock-redis"
    if params.get("presence"):
        server = f"{server}+presence"
    if params.get("defences") == "off":
        server = f"{server}+defences-off"
    return server


def write_result(
    scenario: str,
    mode: str,
    server: str,
    params: dict,
    figures: dict,
    verdicts: list[dict],
    extra: dict | None = None,
) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    server = server_label(mode, server, params)
    path = RESULTS / f"{scenario}-{mode}-{server}-{stamp}.json"
    doc = {
        "scenario": scenario,
        "mode": mode,
        "server": server,
        "finished_at": dt.datetime.now().isoformat(timespec="seconds"),
        "params": params,
        "figures": figures,
        "verdicts": verdicts,
        "machine": machine_info(),
        **(extra or {}),
    }
    path.write_text(json.dumps(doc, indent=2, default=str))
    return path


def print_figures(
    scenario: str, mode: str, server: str, figures: dict, verdicts: list[dict], path: Path
) -> None:
    """The figures are the last lines a script prints."""
    print(f"\n== {scenario} [{mode} / {server}] ==")
    for key, value in _flatten(figures):
        print(f"  {key}: {value}")
    for v in verdicts:
        print(
            f"  {v['verdict']}: {v['target']} = {v['value']} {v['unit']}"
            f" (target {v['op']} {v['limit']})"
        )
    print(f"  results: {path.relative_to(ROOT)}")


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(obj, dict):
        out = []
        if obj and all(not isinstance(v, (dict, list)) for v in obj.values()) and prefix:
            return [(prefix, " ".join(f"{k}={v}" for k, v in obj.items()))]
        for k, v in obj.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(obj, list) and len(obj) > 12:
        return [(prefix, f"[{len(obj)} items]")]
    return [(prefix, obj)]


# --- profiling -----------------------------------------------------------------------------


class Profiler:
    """`py-spy record` on hub processes while a phase runs; collapsed stacks to a file."""

    def __init__(self, pids: list[int], label: str, rate: int = 200) -> None:
        self.pids = pids
        self.label = label
        self.rate = rate
        self.procs: list[tuple[int, subprocess.Popen, Path]] = []

    def start(self) -> Profiler:
        spy = shutil.which("py-spy", path=str(ROOT / ".venv" / "bin")) or shutil.which("py-spy")
        if spy is None:
            raise RuntimeError("py-spy not installed: pip install -r bench/requirements.txt")
        RESULTS.mkdir(parents=True, exist_ok=True)
        for pid in self.pids:
            out = RESULTS / f"profile-{self.label}-{pid}.txt"
            popen = subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    str(self.rate),
                    "--format",
                    "raw",
                    "--output",
                    str(out),
                    "--nonblocking",
                    "--gil",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.procs.append((pid, popen, out))
        time.sleep(1.0)  # let py-spy attach
        return self

    def stop(self) -> list[Path]:
        paths = []
        for _pid, popen, _out in self.procs:
            popen.send_signal(signal.SIGINT)
        for _pid, popen, out in self.procs:
            try:
                popen.wait(30)
            except subprocess.TimeoutExpired:
                popen.kill()
            if out.exists():
                paths.append(out)
        return paths


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        with contextlib.suppress(ValueError):
            path = str(Path(path).relative_to(ROOT))
    return f"{name} ({path})"


HUB_PACKAGES = ("agents/", "tasks/", "agentcom_site/", "messaging/")


def _package(frame: str) -> str:
    """The library (or hub app) a frame belongs to: 'django/db', 'asgiref', 'tasks', ..."""
    path = frame.rpartition(" (")[2].rstrip(")")
    parts = path.split("/")
    if parts[0] == "django" and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0].removesuffix(".py") if parts else path


def top_costs(paths: list[Path], limit: int = 20) -> dict[str, Any]:
    """Shares of the samples (py-spy --gil: the thread holding the GIL, i.e. Python CPU):
    inclusive per hub function, self per function, and self per library."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    total = 0
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = [_frame_name(f) for f in stack.split(";") if f]
            if not frames:
                continue
            total += n
            for name in set(frames):
                inclusive[name] += n
            own[frames[-1]] += n
            by_package[_package(frames[-1])] += n

    def share(counter: Counter[str], keep=lambda k: True) -> list[dict]:
        rows = [(k, v) for k, v in counter.most_common() if keep(k)][:limit]
        return [
            {"function": k, "share": round(100 * v / max(1, total), 1), "samples": v}
            for k, v in rows
        ]

    def is_hub(name: str) -> bool:
        return name.rpartition(" (")[2].startswith(HUB_PACKAGES)

    return {
        "samples": total,
        "inclusive_hub": share(inclusive, is_hub),
        "inclusive": share(inclusive),
        "self": share(own),
        "self_by_library": share(by_package),
    }


# --- argument helpers ----------------------------------------------------------------------


def add_common_args(parser) -> None:
    parser.add_argument("--mode", choices=MODES, default="embedded")
    parser.add_argument("--server", choices=SERVERS, default="daphne")
    parser.add_argument("--hubs", type=int, default=2, help="ASGI processes in scaled mode")
    parser.add_argument("--workers", type=int, default=1, help="`schedule` workers in scaled mode")
    parser.add_argument("--quick", action="store_true", help="small sizes, for iterating")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the hub processes during the measured phase"
    )
    parser.add_argument(
        "--stock-redis",
        action="store_true",
        help="scaled: keep redis-py's 5 s socket timeout (bench/settings_override.py)",
    )


def add_defences_arg(parser) -> None:
    parser.add_argument(
        "--defences",
        choices=("on", "off"),
        default="on",
        help="off: the hub's input gate, rate limits, revocation checks and metrics "
        "switched off (bench/defences_off.py), to measure what they cost",
    )


def defences_env(args) -> dict[str, str]:
    """What a hub process needs in its environment for `--defences`."""
    from bench.hubwrap import DEFENCES_SWITCH

    return {DEFENCES_SWITCH: "off"} if getattr(args, "defences", "on") == "off" else {}


def hubset(args, backend: Backend, env: dict[str, str] | None = None) -> HubSet:
    return HubSet(
        backend,
        server=args.server,
        hubs=args.hubs,
        workers=args.workers,
        env={**(env or {}), **defences_env(args)},
        stock_redis=getattr(args, "stock_redis", False),
    )


def params_of(args) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items()}


def print_profile(costs: dict[str, Any], limit: int = 15) -> None:
    print(f"\n-- profile: {costs['samples']} GIL-holding samples --")
    for title, key in (
        ("hub functions, inclusive", "inclusive_hub"),
        ("functions, self", "self"),
        ("libraries, self", "self_by_library"),
    ):
        print(f"-- {title} (top {limit}) --")
        for row in costs[key][:limit]:
            print(f"  {row['share']:5.1f}%  {row['function']}")


async def gather_limited(coros, limit: int) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def run(coro):
        async with sem:
            return await coro

    return await asyncio.gather(*(run(c) for c in coros))
