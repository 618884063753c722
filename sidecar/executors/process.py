"""Running an executor's argv and reading its JSON-lines stream (PROTOCOL.md §6.4).

The process runs without a shell, in its own session (so a kill reaches everything it
started), the prompt on stdin, stderr to ``tasks/<id>.wake.log``. For an executor with
a stream parser, the sidecar reads stdout line by line (each line bounded; a line that
is not a JSON object is counted and skipped) and turns it into the files an agent
would write: ``<id>.started`` at the first event, ``<id>.progress`` at most once per
``executor_progress_ms``, and ``<id>.json`` once the process has exited. The result
watcher then reports them exactly as for a wake_command, so keepalive, git submit,
resending and recovery all hold unchanged.

A run that exits non-zero before its first event is a failed wake attempt (retried);
once it has started, or when it exits 0, its outcome is the result file's. A process
the sidecar kills (timeout, task dropped, shutdown) leaves no result file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sidecar.executors.base import StreamParser
from sidecar.report import write_progress, write_result, write_started
from sidecar.shell import CannotStart, ShellOutcome, ShellProcess, output_tail

LINE_MAX_BYTES = 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class ExecPlan:
    """A ready-to-run executor: argv, where, environment, prompt, and how to read it."""

    command: str  # argv joined, for the log (it holds no task text)
    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str]
    stdin_text: str | None
    output_file: Path
    results_dir: Path
    task_id: str
    parser: Callable[[], StreamParser] | None = None
    progress_interval_s: float = 2.0
    on_session: Callable[[str], None] | None = None

    async def start(self) -> ExecutorProcess | CannotStart:
        streaming = self.parser is not None
        if streaming:  # a run before a restart may have left them; this run writes its own
            for suffix in (".started", ".progress"):
                with contextlib.suppress(OSError):
                    (self.results_dir / f"{self.task_id}{suffix}").unlink()
        try:
            self.output_file.parent.mkdir(parents=True, exist_ok=True)
            with self.output_file.open("wb") as output:
                process = await asyncio.create_subprocess_exec(
                    *self.argv,
                    cwd=self.cwd,
                    env=self.env,
                    stdin=subprocess.PIPE if self.stdin_text is not None else subprocess.DEVNULL,
                    stdout=subprocess.PIPE if streaming else output,
                    stderr=output,
                    start_new_session=True,
                )
        except OSError as exc:
            return CannotStart(str(exc))
        return ExecutorProcess(process, self)


def feed_line(parser: StreamParser, raw: bytes) -> bool:
    """Give parser one line of the stream; False unless it is a JSON object it took."""
    try:
        event = json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError:
        return False
    if not isinstance(event, dict):
        return False
    try:
        parser.feed(event)
    except Exception:  # a surprising event shape must not stop the run being read
        return False
    parser.figures.events += 1
    return True


class ExecutorProcess(ShellProcess):
    """A started executor; with a parser, its stdout is read until it exits."""

    def __init__(self, process: asyncio.subprocess.Process, plan: ExecPlan) -> None:
        super().__init__(process, plan.output_file)
        self._plan = plan
        self._parser = plan.parser() if plan.parser is not None else None
        self._started_at = time.monotonic()
        self._started = False
        self._took_task = False
        self._abandoned = False
        self._last_progress = 0.0
        self._session: str | None = None
        self.garbage_lines = 0
        self._duties: list[asyncio.Task[None]] = []
        if plan.stdin_text is not None:
            self._duties.append(asyncio.create_task(self._feed(plan.stdin_text)))
        self._reader = asyncio.create_task(self._read()) if self._parser is not None else None

    @property
    def parser(self) -> StreamParser | None:
        return self._parser

    async def wait(
        self,
        timeout_s: float,
        *,
        until: Callable[[], bool] | None = None,
        poll_s: float = 0.1,
    ) -> ShellOutcome | None:
        """As ShellProcess.wait; for a stream, None once its first event arrived (running
        or not) or it exited 0: the result file then carries its outcome."""
        if self._reader is None:
            return await super().wait(timeout_s, until=until, poll_s=poll_s)

        def begun() -> bool:
            return self._started or (until is not None and until())

        outcome = await super().wait(timeout_s, until=begun, poll_s=poll_s)
        if outcome is None:
            return None
        await asyncio.shield(self._reader)  # the stream read to its end, the result written
        return None if self._took_task else outcome

    def kill(self) -> None:
        """Kill the run; whatever it wrote so far yields no result file."""
        self._abandoned = True
        super().kill()

    async def _feed(self, text: str) -> None:
        pipe = self._process.stdin
        assert pipe is not None
        try:
            pipe.write(text.encode("utf-8", errors="replace"))
            await pipe.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # it exited without reading: its exit status tells why
        finally:
            pipe.close()

    async def _read(self) -> None:
        """Read the stream to its end; whatever goes wrong, a started run ends with a result."""
        try:
            await self._read_stream()
        except Exception as exc:  # a bug here must not leave the task with nobody on it
            if self._abandoned:
                return
            self._took_task = True
            super().kill()  # nobody reads its output any more
            assert self._parser is not None
            reason = f"sidecar_error: reading the {self._parser.figures.executor} stream: {exc!r}"
            self._write(write_started, self._plan.results_dir, self._plan.task_id)
            result = self._parser.failed(reason)
            self._write(write_result, self._plan.results_dir, self._plan.task_id, result)

    async def _read_stream(self) -> None:
        stream = self._process.stdout
        assert stream is not None
        buffer = bytearray()
        skipping = False  # inside a line over LINE_MAX_BYTES: drop it up to its newline
        while chunk := await stream.read(READ_CHUNK_BYTES):
            buffer += chunk
            while (newline := buffer.find(b"\n")) >= 0:
                line = bytes(buffer[:newline])
                del buffer[: newline + 1]
                if skipping:
                    skipping = False
                else:
                    self._line(line)
            if len(buffer) > LINE_MAX_BYTES:
                buffer.clear()
                if not skipping:
                    self.garbage_lines += 1
                skipping = True
        if buffer and not skipping:
            self._line(bytes(buffer))
        exit_code = await self._process.wait()
        if self._abandoned:
            return
        if self._started or exit_code == 0:
            self._took_task = True
            self._finish(exit_code)

    def _line(self, raw: bytes) -> None:
        assert self._parser is not None
        if not raw.strip():
            return
        if not feed_line(self._parser, raw):
            self.garbage_lines += 1
            return
        figures = self._parser.figures
        first = not self._started
        if first:
            self._started = True
            self._write(write_started, self._plan.results_dir, self._plan.task_id)
        if figures.session_id and figures.session_id != self._session:
            self._session = figures.session_id
            if self._plan.on_session is not None:
                self._plan.on_session(figures.session_id)
        now = time.monotonic()
        if first or now - self._last_progress >= self._plan.progress_interval_s:
            self._last_progress = now
            progress = json.dumps(figures.progress(), ensure_ascii=False)
            self._write(write_progress, self._plan.results_dir, self._plan.task_id, progress)

    def _finish(self, exit_code: int) -> None:
        assert self._parser is not None
        figures = self._parser.figures
        if figures.execution_ms is None:
            figures.execution_ms = round((time.monotonic() - self._started_at) * 1000)
        result = self._parser.result(exit_code, output_tail(self._plan.output_file))
        if self.garbage_lines:
            result["unparsed_lines"] = self.garbage_lines
        results_dir, task_id = self._plan.results_dir, self._plan.task_id
        if not self._started:
            self._write(write_started, results_dir, task_id)
        self._write(write_result, results_dir, task_id, result)

    @staticmethod
    def _write(writer: Callable[..., Any], *args: Any) -> None:
        with contextlib.suppress(OSError):  # a full disk shows as a missing result instead
            writer(*args)
