"""A fake hub and a real sidecar process for the sidecar's process tests."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
TOKEN = "9c1e" + "0" * 60
FRAME_TIMEOUT_S = 10


def sidecar_env(**extra: str) -> dict[str, str]:
    """The environment for sidecar processes: the repository importable, git identity set."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(
        GIT_AUTHOR_NAME="Test Agent",
        GIT_AUTHOR_EMAIL="agent@example.com",
        GIT_COMMITTER_NAME="Test Agent",
        GIT_COMMITTER_EMAIL="agent@example.com",
    )
    env.update(extra)
    return env


def task_assign(task_id: str = "task-00000000000000a1", generation: int = 1, **fields: Any) -> dict:
    frame = {
        "type": "task_assign",
        "task_id": task_id,
        "description": "say hello",
        "metadata": {"k": 1},
        "generation": generation,
        "assigned_at": 1767225600000,
        "title": "say hello",
        "priority": 2,
        "complete_by": None,
    }
    frame.update(fields)
    return frame


class FakeHub:
    """A WebSocket server that records the sidecar's frames and lets a test answer them.

    Pings are answered (unless answer_pings is False) and kept out of the frame queue;
    identify is answered with `identified` (or whatever identify_reply returns).
    """

    def __init__(self) -> None:
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closes: asyncio.Queue[tuple[int | None, str | None]] = asyncio.Queue()
        self.received: list[dict[str, Any]] = []
        self.identify_times: list[float] = []
        self.answer_pings = True
        self.identify_reply: Callable[[dict[str, Any]], dict[str, Any]] = lambda frame: {
            "type": "identified",
            "agent_id": frame.get("agent_id"),
        }
        self.ws: ServerConnection | None = None
        self._server: Server | None = None

    async def __aenter__(self) -> FakeHub:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/ws"

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(frame))

    async def expect(self, frame_type: str, timeout: float = FRAME_TIMEOUT_S) -> dict[str, Any]:
        """The next frame of frame_type; frames of other types before it are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {frame_type} frame within {timeout} s")
            try:
                frame = await asyncio.wait_for(self.frames.get(), remaining)
            except TimeoutError:
                raise AssertionError(f"no {frame_type} frame within {timeout} s") from None
            if frame.get("type") == frame_type:
                return frame

    async def expect_any(
        self, frame_types: set[str], timeout: float = FRAME_TIMEOUT_S
    ) -> dict[str, Any]:
        """The next frame whose type is one of frame_types; others before it are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                frame = await asyncio.wait_for(self.frames.get(), max(remaining, 0))
            except TimeoutError:
                raise AssertionError(f"none of {sorted(frame_types)} within {timeout} s") from None
            if frame.get("type") in frame_types:
                return frame

    async def drop(self, code: int = 1001, reason: str = "going away") -> None:
        """Close the current connection from the hub side."""
        assert self.ws is not None
        await self.ws.close(code, reason)

    def count(self, frame_type: str) -> int:
        return sum(1 for frame in self.received if frame.get("type") == frame_type)

    async def _handle(self, ws: ServerConnection) -> None:
        self.ws = ws
        try:
            async for raw in ws:
                frame = json.loads(raw)
                self.received.append(frame)
                if frame.get("type") == "ping":
                    if self.answer_pings:
                        await ws.send(json.dumps({"type": "pong", "timestamp": 0}))
                    continue
                if frame.get("type") == "identify":
                    self.identify_times.append(time.monotonic())
                    await ws.send(json.dumps(self.identify_reply(frame)))
                await self.frames.put(frame)
        except ConnectionClosed:
            pass
        finally:
            await self.closes.put((ws.close_code, ws.close_reason))


class SidecarProcess:
    """`python -m sidecar --config <dir>/config.json` in a directory of its own."""

    def __init__(self, directory: Path, config: dict[str, Any], **env: str) -> None:
        self.dir = directory
        self.config = config
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def config_path(self) -> Path:
        return self.dir / "config.json"

    @property
    def results_dir(self) -> Path:
        return self.dir / "results"

    @property
    def log_file(self) -> Path:
        return self.dir / "sidecar.log"

    def start(self) -> SidecarProcess:
        self.config_path.write_text(json.dumps(self.config), encoding="utf-8")
        self.starts += 1
        self.process = subprocess.Popen(
            [PYTHON, "-m", "sidecar", "--config", str(self.config_path)],
            cwd=self.dir,
            env=sidecar_env(**self.env),
            stdin=subprocess.DEVNULL,
            stdout=(self.dir / f"stdout-{self.starts}.txt").open("wb"),
            stderr=(self.dir / f"stderr-{self.starts}.txt").open("wb"),
        )
        return self

    def signal(self, signum: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def wait_exit(self, timeout: float = 10) -> int:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"sidecar still running after {timeout} s")
            await asyncio.sleep(0.02)
        return self.process.returncode

    async def stop(self) -> int:
        self.signal(signal.SIGTERM)
        return await self.wait_exit()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def queue(self) -> dict[str, Any]:
        path = self.dir / "queue.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def stderr(self) -> str:
        return (self.dir / f"stderr-{self.starts}.txt").read_text(encoding="utf-8")

    async def wait_for(
        self, condition: Callable[[], bool], what: str, timeout: float = FRAME_TIMEOUT_S
    ) -> None:
        """Poll condition until true; fail naming `what` after timeout."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.02)

    async def wait_for_status(self, status: str, timeout: float = FRAME_TIMEOUT_S) -> None:
        def reached() -> bool:
            try:
                active = self.queue().get("active") or {}
            except ValueError:
                return False
            return active.get("status") == status

        await self.wait_for(reached, f"active task status {status}", timeout)


# Overrides for an agent that picks up its task by itself instead of being woken.
SELF_WAKE: dict[str, Any] = {"wake_command": None, "self_wake": True}


def fast_config(hub_url: str, **overrides: Any) -> dict[str, Any]:
    """A config with the protocol's timers shortened so process tests run in seconds."""
    config: dict[str, Any] = {
        "agent_id": "gcu-sleeper",
        "token": TOKEN,
        "hub_url": hub_url,
        "capabilities": ["code", "python"],
        "wake_command": f"{PYTHON} -m sidecar.fake_agent --delay 0.3 --counter-file wakes.txt",
        "confirmation_timeout_ms": 5000,
        "progress_interval_ms": 0,
        "ping_interval_ms": 1000,
        "pong_timeout_ms": 1000,
        "reconnect_base_ms": 100,
        "reconnect_max_ms": 400,
        "auth_retry_ms": 600,
        "wake_retry_delays_ms": [50, 50, 50],
        "wake_timeout_ms": 5000,
        "results_poll_ms": 30,
        "result_stable_ms": 200,
        "risk_wait_ms": 2000,  # a fake hub does not answer task_classify
    }
    config.update(overrides)
    return config


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=sidecar_env(), capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def make_clone(directory: Path) -> Path:
    """`origin.git` (bare, main with one commit) and its clone `repo` inside directory."""
    origin = directory / "origin.git"
    git(directory, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    clone = directory / "repo"
    git(directory, "clone", "--quiet", str(origin), str(clone))
    git(clone, "checkout", "--quiet", "-B", "main")
    (clone / "README.md").write_text("hello\n")
    git(clone, "add", "README.md")
    git(clone, "commit", "--quiet", "-m", "chore: start")
    git(clone, "push", "--quiet", "origin", "main")
    return clone


def path_without_gh(directory: Path) -> str:
    """A PATH holding only git, so `gh` is certainly missing."""
    bin_dir = directory / "bin-git-only"
    bin_dir.mkdir(exist_ok=True)
    git_path = shutil.which("git")
    assert git_path is not None
    if not (bin_dir / "git").exists():
        os.symlink(git_path, bin_dir / "git")
    return str(bin_dir)


def write_result(results_dir: Path, task_id: str, result: dict[str, Any]) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    temporary = results_dir / f"{task_id}.json.tmp"
    temporary.write_text(json.dumps(result), encoding="utf-8")
    os.replace(temporary, results_dir / f"{task_id}.json")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
