"""Driving the active task: preparation and wake (sidecar.waking), then result files (§6.4-§6.6).

The hub-facing decisions (accept, reject, drop, continue) belong to the relay;
this module does the work in between and ends a task with exactly one final
report through ``finish``. Whatever goes wrong in a task's job, the job ends by
failing the task, so no task stays held with nobody working on it.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from sidecar import frames
from sidecar.completion import Completion, RiskAnswers, attempts_of, with_reports
from sidecar.config import SidecarConfig
from sidecar.liveness import agent_alive
from sidecar.localtask import FAILED, WAKING_CONFIRMATION, WORKING, LocalTask
from sidecar.logs import EventLog
from sidecar.results import (
    ResultOutcome,
    ResultWatcher,
    no_progress,
    parse_result,
    remove_result_files,
)
from sidecar.shell import ShellProcess
from sidecar.slot import TaskSlot
from sidecar.template import TooLargeForEnvironment
from sidecar.wake import plan_command, remove_task_files, streams_results
from sidecar.waking import NotWoken, Waker, Woken

Send = Callable[[dict[str, Any]], Awaitable[bool]]


class TaskWork:
    """Background work on the slot's active task; all of it stops with the task's epoch."""

    def __init__(self, config: SidecarConfig, log: EventLog, slot: TaskSlot, send: Send) -> None:
        self._config = config
        self._log = log
        self._slot = slot
        self._send = send
        self._watcher = ResultWatcher(config.results_dir, stable_ms=config.result_stable_ms)
        self._waker = Waker(config, log, slot, send, self._watcher.started)
        self._task_jobs: set[asyncio.Task[None]] = set()
        self._other_jobs: set[asyncio.Task[None]] = set()
        self._poll_task: asyncio.Task[None] | None = None
        self._confirm_deadline: float | None = None
        self._last_keepalive = 0.0
        self._progress: list[Any] = []  # the last progress value sent, if any
        # The active task's wake command, while it may still run the agent in its foreground.
        self._wake_process: ShellProcess | None = None
        # Wake commands of finished tasks that still run: held so they are not killed
        # when garbage-collected, and killed at shutdown.
        self._leftovers: set[ShellProcess] = set()
        self._keepalive_withheld = False
        self._completion = Completion(config, log, slot, send)
        self._completing: LocalTask | None = None  # its success result is being verified

    @property
    def risk_answers(self) -> RiskAnswers:
        """Where the relay hands task_risk and refusals of task_classify."""
        return self._completion.risk_answers

    def start(self) -> None:
        self._config.results_dir.mkdir(parents=True, exist_ok=True)
        self._poll_task = asyncio.create_task(self._poll_loop())

    async def stop(self) -> None:
        """Stop watching and kill every command still running, a foreground agent included."""
        jobs = [j for j in (self._poll_task, *self._task_jobs, *self._other_jobs) if j is not None]
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        for process in (self._wake_process, *self._leftovers):
            if process is not None:
                process.kill()

    def clear_stale_files(self, task_id: str) -> None:
        """Forget result files left from an earlier assignment of task_id.

        The Node sidecar only reacts to files created after it started watching; a fresh
        assignment must likewise not be completed by an old result.
        """
        self._watcher.forget(task_id)
        remove_result_files(self._config.results_dir, task_id)

    def launch(self, task: LocalTask, epoch: int) -> None:
        """Start git start-task (if configured) and the wake for a freshly accepted task."""
        self._reset()
        self._forget_wake_process()
        self._spawn(self._run_task(task, epoch), self._task_jobs, task.task_id)

    def recover(self, task: LocalTask, epoch: int) -> None:
        """The recovered task continues as the active one (saved).

        A task its agent confirmed (working, or `.started` written meanwhile) awaits its
        result; results written while the sidecar was down are picked up. Any other was
        never known to reach an agent, so it is woken again, its attempts counting on.
        """
        self._reset()
        self._forget_wake_process()
        if streams_results(self._config):
            # The sidecar ran the agent itself, and that run ended with the old process:
            # only a result it wrote counts; otherwise the task runs again (its session
            # continued), the attempts counting on.
            confirmed = (self._config.results_dir / f"{task.task_id}.json").exists()
        else:
            confirmed = task.status == WORKING or self._watcher.started(task.task_id)
        task.recover(confirmed=confirmed)
        self._slot.save()
        if confirmed:
            self._enter_working()
        else:
            self._log.info("recovery_rewake", task_id=task.task_id, attempts=task.wake_attempts)
            self._spawn(self._run_task(task, epoch), self._task_jobs, task.task_id)

    def agent_running(self) -> bool:
        """Whether the active task's wake command (and so perhaps its agent) still runs."""
        return self._wake_process is not None and self._wake_process.running

    def wake_again(self, task: LocalTask) -> None:
        """Wake the active task's agent anew, with a fresh round of attempts (saved)."""
        if self._slot.active is not task:
            return
        task.wake_again()
        self._slot.save()
        self.launch(task, self._slot.epoch)

    def abandon(self, task: LocalTask, *, cancel_command: bool = False) -> None:
        """Stop the work of a task taken out of the slot and remove its files.

        An agent still running in the foreground of its wake command is killed; with
        cancel_command, the configured cancel command runs first (best effort).
        """
        for job in self._task_jobs:
            job.cancel()
        self._reset()
        agent, self._wake_process = self._wake_process, None
        task_id = task.task_id
        self._watcher.forget(task_id)
        remove_result_files(self._config.results_dir, task_id)
        if cancel_command and self._config.cancel_command:
            self._spawn(self._run_cancel_command(task, agent), self._other_jobs, task_id)
        else:
            if agent is not None:
                agent.kill()
            remove_task_files(self._config, task_id)

    async def finish(self, task: LocalTask, frame: dict[str, Any]) -> None:
        """End task with its final report: saved with the slot's release, files removed, sent.

        Does nothing if task has meanwhile left the slot (dropped or cancelled by the hub).
        """
        task_id = task.task_id
        if self._slot.active is not task:
            self._log.debug("finish_skipped", task_id=task_id, frame_type=frame["type"])
            return
        if frame["type"] == "task_failed":
            task.move(FAILED)
        self._slot.release(task, frame)
        self._forget_wake_process()
        self._watcher.forget(task_id)
        remove_result_files(self._config.results_dir, task_id)
        remove_task_files(self._config, task_id)
        if frame["type"] == "task_failed":
            self._log.info("task_failed", task_id=task_id, reason=frame.get("reason"))
        await self._send(frame)

    # ----- git and wake --------------------------------------------------

    async def _run_task(self, task: LocalTask, epoch: int) -> None:
        try:
            await self._prepare_and_wake(task, epoch)
        except Exception as exc:  # the last resort: a job never ends with its task stranded
            self._log.error(
                "task_job_error",
                task_id=task.task_id,
                error=f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(limit=8),
            )
            if self._slot.current(epoch):
                reason = f"sidecar_error: {type(exc).__name__}: {exc}"
                await self.finish(task, frames.task_failed(task, reason))

    async def _prepare_and_wake(self, task: LocalTask, epoch: int) -> None:
        outcome = await self._waker.prepare(task, epoch)
        if not self._slot.current(epoch):
            return
        if outcome is None and self._config.self_wake:
            task.move(WORKING)
            self._enter_working()
            self._slot.save()
            self._log.info("wake_skipped", task_id=task.task_id, reason="self_wake")
            return
        if outcome is None:
            outcome = await self._waker.wake(task, epoch)
            if not self._slot.current(epoch):
                return
        if isinstance(outcome, NotWoken):
            await self.finish(task, frames.task_failed(task, outcome.reason))
        elif isinstance(outcome, Woken):
            self._wake_process = outcome.process
            timeout_s = self._config.confirmation_timeout_ms / 1000
            self._confirm_deadline = time.monotonic() + timeout_s

    async def _run_cancel_command(self, task: LocalTask, agent: ShellProcess | None) -> None:
        task_id = task.task_id
        try:
            plan = plan_command(self._config, self._config.cancel_command or "", task, "cancel")
            outcome = await plan.run(self._config.cancel_timeout_ms)
            self._log.write(
                "info" if outcome.ok else "warning",
                "cancel_command_done",
                task_id=task_id,
                result=outcome.describe(),
            )
        except TooLargeForEnvironment as exc:
            self._log.warning("cancel_command_done", task_id=task_id, result=str(exc))
        finally:
            if agent is not None:
                agent.kill()
            remove_task_files(self._config, task_id)

    # ----- result files --------------------------------------------------

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self._config.results_poll_ms / 1000)
            try:
                await self._poll_once()
            except Exception as exc:  # one bad poll must not stop the watcher
                active = self._slot.active
                self._log.error(
                    "poll_error",
                    task_id=active.task_id if active else None,
                    error=f"{type(exc).__name__}: {exc}",
                )

    async def _poll_once(self) -> None:
        task = self._slot.active
        if task is None:
            return
        task_id, epoch, now = task.task_id, self._slot.epoch, time.monotonic()
        interval = self._config.progress_interval_ms / 1000
        if self._completing is task:  # the sidecar itself works on it: verify, submit
            if interval > 0 and now - self._last_keepalive >= interval:
                self._last_keepalive = now
                await self._send(frames.task_progress(task, self._progress))
            return
        text = self._watcher.ready_result(task_id)
        if text is not None:
            await self._on_result(task, epoch, text)
            return
        status = task.status
        if status == WAKING_CONFIRMATION and self._watcher.started(task_id):
            task.move(WORKING)
            status = task.status
            self._enter_working()
            self._slot.save()
            self._log.info("confirmation_received", task_id=task_id)
        progress = self._watcher.new_progress(task_id)
        if not no_progress(progress):
            self._progress = [progress]
            self._last_keepalive = now
            await self._send(frames.task_progress(task, self._progress))
        deadline = self._confirm_deadline
        if status == WAKING_CONFIRMATION and deadline is not None and now >= deadline:
            await self._confirmation_timed_out(task)
            return
        if status == WORKING and interval > 0 and now - self._last_keepalive >= interval:
            self._last_keepalive = now
            await self._keepalive(task)

    async def _keepalive(self, task: LocalTask) -> None:
        """Send the keepalive task_progress, but only while the agent is known to be alive."""
        task_id = task.task_id
        wake_running = self._wake_process is not None and self._wake_process.running
        last_written = self._watcher.last_written(task_id)
        alive = agent_alive(
            wake_running=wake_running,
            last_written=last_written,
            now=time.time(),
            window_s=self._config.alive_window_ms / 1000,
        )
        if not alive:
            if not self._keepalive_withheld:
                self._keepalive_withheld = True
                self._log.warning(
                    "keepalive_withheld",
                    task_id=task_id,
                    reason="no wake command running and no file written within alive_window_ms",
                    alive_window_ms=self._config.alive_window_ms,
                    wake_exit_code=self._wake_process.exit_code if self._wake_process else None,
                )
            return
        if self._keepalive_withheld:
            self._keepalive_withheld = False
            self._log.info("keepalive_resumed", task_id=task_id)
        self._log.debug("keepalive", task_id=task_id, wake_running=wake_running)
        await self._send(frames.task_progress(task, self._progress))

    async def _confirmation_timed_out(self, task: LocalTask) -> None:
        task_id = task.task_id
        timeout_ms = self._config.confirmation_timeout_ms
        self._log.warning("confirmation_timeout", task_id=task_id, timeout_ms=timeout_ms)
        await self._send(
            frames.wake_result(task_id, "timeout", task.wake_attempts, "confirmation_timeout")
        )
        await self.finish(task, frames.task_failed(task, "confirmation_timeout"))

    async def _on_result(self, task: LocalTask, epoch: int, text: str) -> None:
        outcome = parse_result(text)
        if not outcome.success:
            frame = frames.task_failed(task, outcome.reason or "unknown", outcome.result)
            await self.finish(task, with_reports(frame, attempts_of(task)))
            return
        # Verification and submit may take long: they run beside the poll loop, which
        # keeps the task alive meanwhile instead of reading the result again.
        self._completing = task
        self._spawn(self._complete(task, epoch, outcome), self._task_jobs, task.task_id)

    async def _complete(self, task: LocalTask, epoch: int, outcome: ResultOutcome) -> None:
        try:
            frame = await self._completion.run(task, epoch, outcome)
        except Exception as exc:  # the last resort: a job never ends with its task stranded
            self._log.error(
                "completion_error", task_id=task.task_id, error=f"{type(exc).__name__}: {exc}"
            )
            frame = frames.task_failed(task, f"sidecar_error: {type(exc).__name__}: {exc}")
        finally:
            if self._completing is task:
                self._completing = None
        if not self._slot.current(epoch):
            return
        if frame is not None:
            await self.finish(task, frame)
            return
        # Verification failed with retries left: the same task, woken again.
        self.clear_stale_files(task.task_id)
        self._reset()
        self._forget_wake_process()
        self._spawn(self._run_task(task, epoch), self._task_jobs, task.task_id)

    # ----- helpers -------------------------------------------------------

    def _reset(self) -> None:
        self._confirm_deadline = None
        self._progress = []
        self._keepalive_withheld = False

    def _forget_wake_process(self) -> None:
        """The active task's wake command is no longer its agent; keep it only while it runs."""
        self._leftovers = {p for p in self._leftovers if p.running}
        if self._wake_process is not None and self._wake_process.running:
            self._leftovers.add(self._wake_process)
        self._wake_process = None

    def _enter_working(self) -> None:
        self._confirm_deadline = None
        self._last_keepalive = time.monotonic()

    def _spawn(
        self, work: Coroutine[Any, Any, None], jobs: set[asyncio.Task[None]], task_id: str
    ) -> None:
        job = asyncio.create_task(work)
        jobs.add(job)

        def done(finished: asyncio.Task[None]) -> None:
            jobs.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                error = finished.exception()
                self._log.error(
                    "job_error", task_id=task_id, error=f"{type(error).__name__}: {error}"
                )

        job.add_done_callback(done)
