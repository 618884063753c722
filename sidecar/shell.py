"""Running a shell command the way the wake and cancel steps need (§6.4).

The command runs under ``/bin/sh -c`` in its own session, with output going to
a file rather than a pipe: an agent left running in the background by the
command inherits the file, so the sidecar only waits for the shell itself.
On timeout or cancellation the whole process group of the shell is killed.
A wait can also end early while the shell keeps running (an agent that runs in
the foreground of its wake command and has confirmed it started).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

OUTPUT_TAIL_CHARS = 2000


@dataclass(frozen=True)
class ShellOutcome:
    exit_code: int | None
    timed_out: bool
    output_tail: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def describe(self) -> str:
        """A one-line reason for a failed run, suitable for wake_result.error."""
        if self.timed_out:
            head = "timed out"
        elif self.exit_code is None:
            head = "not started"
        elif self.exit_code < 0:
            head = f"killed by signal {-self.exit_code}"
        else:
            head = f"exit code {self.exit_code}"
        return f"{head}: {self.output_tail}" if self.output_tail else head


@dataclass(frozen=True)
class CannotStart:
    """The command could not be started at all: no shell, no working directory, no output file."""

    error: str


class ShellProcess:
    """A started ``/bin/sh -c`` command, leader of a process group of its own."""

    def __init__(self, process: asyncio.subprocess.Process, output_file: Path) -> None:
        self._process = process
        self._output_file = output_file

    @property
    def running(self) -> bool:
        return self._process.returncode is None

    @property
    def exit_code(self) -> int | None:
        return self._process.returncode

    async def wait(
        self,
        timeout_s: float,
        *,
        until: Callable[[], bool] | None = None,
        poll_s: float = 0.1,
    ) -> ShellOutcome | None:
        """The outcome once the shell exits; past timeout_s its process group is killed.

        With until, checked every poll_s: None as soon as until() is true while the shell
        still runs; it is left running and no limit applies to it any more.
        Cancelling the awaiting task kills the process group before re-raising.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        exited = asyncio.ensure_future(self._process.wait())
        try:
            while not exited.done():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    self.kill()
                    return self._outcome(await exited, timed_out=True)
                step = remaining if until is None else min(poll_s, remaining)
                await asyncio.wait({exited}, timeout=step)
                if not exited.done() and until is not None and until():
                    return None
        except asyncio.CancelledError:
            self.kill()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(exited)
            raise
        finally:
            if not exited.done():
                exited.cancel()
        return self._outcome(exited.result(), timed_out=False)

    def kill(self) -> None:
        """Kill the shell's process group, while the shell runs.

        Once the shell has exited and been reaped its id may be reused, and whatever it left
        running in the background is no longer the sidecar's to kill.
        """
        if self.running:
            kill_group(self._process.pid)

    def _outcome(self, exit_code: int, *, timed_out: bool) -> ShellOutcome:
        return ShellOutcome(
            exit_code=exit_code, timed_out=timed_out, output_tail=output_tail(self._output_file)
        )


async def start_shell(
    command: str, *, cwd: Path, env: dict[str, str], output_file: Path
) -> ShellProcess | CannotStart:
    """Start command via /bin/sh -c with its output going to output_file."""
    try:
        output_file.parent.mkdir(parents=True, exist_ok=True)
        with output_file.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                "/bin/sh",
                "-c",
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    except OSError as exc:
        return CannotStart(str(exc))
    return ShellProcess(process, output_file)


async def run_shell(
    command: str,
    *,
    cwd: Path,
    env: dict[str, str],
    timeout_s: float,
    output_file: Path,
) -> ShellOutcome:
    """Run command via /bin/sh -c; return once the shell exits or has been killed.

    Cancelling the awaiting task kills the shell's process group before re-raising.
    """
    started = await start_shell(command, cwd=cwd, env=env, output_file=output_file)
    if isinstance(started, CannotStart):
        return ShellOutcome(
            exit_code=None, timed_out=False, output_tail=f"cannot start: {started.error}"
        )
    outcome = await started.wait(timeout_s)
    assert outcome is not None  # only a wait with `until` ends before the shell does
    return outcome


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by pid (the shell and whatever it left behind in it)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def output_tail(path: Path) -> str:
    """The last OUTPUT_TAIL_CHARS of a command's output file, stripped ("" if unreadable)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - OUTPUT_TAIL_CHARS * 4))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return text.strip()[-OUTPUT_TAIL_CHARS:]
