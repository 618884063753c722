"""Real processes on loopback ports: hub processes, scheduler workers and agent clients.

`Backend` gives each test its own database (a fresh SQLite data dir, or a fresh Postgres
database plus a Redis key prefix in the scaled run); `HubProcess` runs `manage.py runhub`
(or `schedule`) against it; `AgentClient` is a `websockets` client speaking the protocol.
"""

import asyncio
import atexit
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

ROOT = Path(__file__).resolve().parents[2]
SCALED = os.getenv("AGENTCOM_TEST_SCALED") == "1"
START_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SQLITE_FILE = "agentcom.sqlite3"  # settings.DATABASES' name inside the data directory


def _admin(sql: str) -> None:
    import psycopg

    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=120,
        cwd=ROOT,
    )


_templates: dict[str, str] = {}


def migrated_template() -> str:
    """A database migrated once per test session, copied for every backend: a migrate
    run per test costs seconds (a process start and every migration); a copy, milliseconds.
    Returns a Postgres database name (scaled run) or a SQLite file path."""
    if "template" in _templates:
        return _templates["template"]
    scratch = Path(tempfile.mkdtemp(prefix="agentcom-template-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    env = {"AGENTCOM_DATA_DIR": str(scratch)}
    if SCALED:
        name = f"agentcom_e2e_template_{os.getpid()}"
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _admin(f'CREATE DATABASE "{name}"')
        atexit.register(_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
        _migrate({**env, "DATABASE_URL": f"{base}/{name}", "REDIS_URL": os.environ["REDIS_URL"]})
        _templates["template"] = name
    else:
        _migrate({**env, "DATABASE_URL": "", "REDIS_URL": ""})
        _templates["template"] = str(scratch / SQLITE_FILE)
    return _templates["template"]


class Backend:
    """Where one test's hub processes keep their state."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "hub-data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.env: dict[str, str] = {"AGENTCOM_DATA_DIR": str(self.data_dir)}
        self.database: str | None = None
        template = migrated_template()
        if SCALED:
            self.database = f"agentcom_e2e_{secrets.token_hex(4)}"
            base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
            self._admin(f'CREATE DATABASE "{self.database}" TEMPLATE "{template}"')
            self.env["DATABASE_URL"] = f"{base}/{self.database}"
            self.env["REDIS_URL"] = os.environ["REDIS_URL"]
            self.env["AGENTCOM_REDIS_PREFIX"] = f"agentcom-test-{secrets.token_hex(4)}"
        else:
            with (
                sqlite3.connect(template) as source,
                sqlite3.connect(self.data_dir / SQLITE_FILE) as copy,
            ):
                source.backup(copy)

    def _admin(self, sql: str) -> None:
        _admin(sql)

    def drop(self) -> None:
        if self.database:
            self._admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def manage(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run a management command against this backend; returns its stdout."""
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env={**os.environ, **self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def create_agent(self, agent_id: str, capabilities: list[str] | None = None) -> str:
        args = ["create_agent", agent_id]
        if capabilities:
            args += ["--capabilities", ",".join(capabilities)]
        return self.manage(*args).strip().splitlines()[-1]

    def create_agents(self, agent_ids: list[str]) -> dict[str, str]:
        """Many agents in one process start: {agent_id: token}."""
        script = (
            "import json,sys\n"
            "from agents import services, tokens\n"
            "out={}\n"
            "for agent_id in sys.argv[1:]:\n"
            "    agent,_=services.ensure_agent(agent_id)\n"
            "    out[agent_id]=tokens.issue_agent_token(agent)[1]\n"
            "print(json.dumps(out))\n"
        )
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "import django,os,sys;os.environ.setdefault('DJANGO_SETTINGS_MODULE',"
                "'agentcom_site.settings');django.setup();exec(sys.stdin.read())",
                *agent_ids,
            ],
            input=script,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        if result.returncode != 0:
            raise RuntimeError(result.stderr)
        return json.loads(result.stdout.strip().splitlines()[-1])

    def operator_token(self, name: str = "ops") -> str:
        return self.manage("create_operator_token", name).strip().splitlines()[-1]


class HubProcess:
    """`manage.py runhub` (or `schedule` with worker=True) in its own process."""

    def __init__(
        self,
        backend: Backend,
        *,
        env: dict[str, str] | None = None,
        worker: bool = False,
        no_scheduler: bool = False,
        name: str = "hub",
    ) -> None:
        self.backend = backend
        self.port = free_port()
        self.env = {**os.environ, **backend.env, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.worker = worker
        self.no_scheduler = no_scheduler
        self.log_path = backend.workdir / f"{name}-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> "HubProcess":
        if self.worker:
            args = ["schedule"]
        else:
            args = ["runhub", "--port", str(self.port)] + (
                ["--no-scheduler"] if self.no_scheduler else []
            )
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "manage.py"), *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        marker = "scheduler worker running" if self.worker else "AgentCom hub listening"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}:\n{self.log()}")
            if marker in self.log()[self._log_offset :]:
                return
            time.sleep(0.05)
        raise RuntimeError(f"hub did not start within {START_TIMEOUT_S}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: the crash case."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode if self.proc else None

    # --- HTTP --------------------------------------------------------------------
    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                payload = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            payload, status = error.read(), error.code
        try:
            return status, json.loads(payload)
        except ValueError:
            return status, payload.decode(errors="replace")

    async def ahttp(self, *args: Any, **kwargs: Any) -> tuple[int, Any]:
        return await asyncio.to_thread(self.http, *args, **kwargs)


class AgentClient:
    """A minimal agent speaking PROTOCOL.md frames over a real WebSocket."""

    def __init__(
        self, hub: HubProcess, agent_id: str, token: str, capabilities: list[str] | None = None
    ):
        self.hub = hub
        self.agent_id = agent_id
        self.token = token
        self.capabilities = capabilities or []
        self.ws: ClientConnection | None = None
        self.frames: list[dict[str, Any]] = []  # everything received, in order

    async def connect(self, identify: bool = True, **extra: Any) -> "AgentClient":
        self.ws = await websockets.connect(self.hub.ws_url, max_size=8 * 1024 * 1024)
        if identify:
            await self.send(
                {
                    "type": "identify",
                    "agent_id": self.agent_id,
                    "token": self.token,
                    "capabilities": self.capabilities,
                    **extra,
                }
            )
            reply = await self.recv_type("identified")
            assert reply["agent_id"] == self.agent_id
        return self

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = 10) -> dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def recv_type(self, *kinds: str, timeout: float = 10) -> dict[str, Any]:
        """The next frame of one of `kinds`; other frames are kept in `frames` and skipped."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(
                    f"{self.agent_id}: no {kinds} within {timeout}s; saw {self.frames[-5:]}"
                )
            frame = await self.recv(remaining)
            if frame["type"] in kinds:
                return frame

    async def ask(self, frame: dict[str, Any], *kinds: str) -> dict[str, Any]:
        await self.send(frame)
        return await self.recv_type(*kinds)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
