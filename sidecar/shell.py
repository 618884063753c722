"""Running a shell command the way the wake and cancel steps need (§6.4).

The command runs under ``/bin/sh -c`` in its own session, with output going to
a file rather than a pipe: an agent left running in the background by the
command inherits the file, so the sidecar only waits for the shell itself.
On timeout or cancellation the whole process group of the shell is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
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
    output_file.parent.mkdir(parents=True, exist_ok=True)
    with output_file.open("wb") as output:
        try:
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
        except OSError as exc:  # e.g. the working directory is gone: a failed run, not a crash
            return ShellOutcome(exit_code=None, timed_out=False, output_tail=f"cannot start: {exc}")
    try:
        exit_code = await asyncio.wait_for(process.wait(), timeout_s)
        timed_out = False
    except TimeoutError:
        kill_group(process.pid)
        exit_code = await process.wait()
        timed_out = True
    except asyncio.CancelledError:
        kill_group(process.pid)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(process.wait())
        raise
    return ShellOutcome(exit_code=exit_code, timed_out=timed_out, output_tail=_tail(output_file))


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by pid (the shell and whatever it left behind in it)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - OUTPUT_TAIL_CHARS * 4))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return text.strip()[-OUTPUT_TAIL_CHARS:]
