"""Preparing the active task and waking its agent (PROTOCOL.md §6.3 steps 4-5, §6.4).

Preparation is the task's workspace (``sidecar.workspaces``) and git start-task (when
the task names a ``repo_url`` or ``repo_dir`` is set), the task file and the wake
command's environment; waking is the wake command (or the configured executor,
sidecar.executors), retried after each failure. A wake
succeeds when the command exits 0, or when the agent confirms (``.started``) while the
command still runs: the agent then runs in the command's foreground, and the command
is left running, no longer bound by ``wake_timeout_ms``.

Every way this can go wrong ends the same way: a ``wake_result`` ``failed`` naming what
failed, then (sent by the caller) ``task_failed`` with the same reason, so no task is
left waiting for an agent that was never started.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sidecar import frames
from sidecar.config import SidecarConfig
from sidecar.localtask import WAKING, WAKING_CONFIRMATION, LocalTask
from sidecar.logs import EventLog
from sidecar.repo import NOT_STARTED, run_git_wrapper
from sidecar.shell import CannotStart, ShellProcess
from sidecar.slot import TaskSlot
from sidecar.template import TooLargeForEnvironment
from sidecar.wake import plan_wake
from sidecar.workspaces import WorkspaceError, ensure_workspace

Send = Callable[[dict[str, Any]], Awaitable[bool]]


@dataclass(frozen=True)
class Woken:
    """The wake command succeeded on this attempt; the task awaits the agent's `.started`."""

    attempt: int
    process: ShellProcess  # still running when the agent works in its foreground


@dataclass(frozen=True)
class NotWoken:
    """The agent cannot be woken; reason is the task_failed reason."""

    reason: str


class Waker:
    """Prepares and wakes the slot's active task; stops acting once the slot's epoch moves on."""

    def __init__(
        self,
        config: SidecarConfig,
        log: EventLog,
        slot: TaskSlot,
        send: Send,
        started: Callable[[str], bool],
    ) -> None:
        self._config = config
        self._log = log
        self._slot = slot
        self._send = send
        self._started = started

    async def prepare(self, task: LocalTask, epoch: int) -> NotWoken | None:
        """Make the task's checkout ready and run git start-task (§6.3 step 4); None when
        the wake may go on.

        A task with a `repo_url` works in that repo's workspace (cloned on first use,
        `sidecar.workspaces`); any other in repo_dir, if set. A start-task that fails
        inside the repository (a dirty tree, a failed fetch) is kept as git_warning and
        the wake goes on. A workspace that cannot be cloned, a repo_dir that does not
        exist, or a wrapper that cannot run, fails the task. A task woken again after a
        restart keeps the workspace and branch (or warning) it already has.
        """
        url = task.get("repo_url")
        if task.get("branch") is not None or task.get("git_warning"):
            return None
        if not url and self._config.repo_dir is None:
            return None
        attempt = task.wake_attempts + 1
        try:
            if url:
                repo_dir = await self._workspace(task, url)
                if not self._slot.current(epoch):
                    return None
            else:
                repo_dir = self._config.repo_dir
                if not repo_dir.is_dir():
                    missing = "is not a directory" if repo_dir.exists() else "does not exist"
                    return await self._not_woken(
                        task, epoch, attempt, f"sidecar_error: repo_dir {repo_dir} {missing}"
                    )
            args = {
                "agent_id": self._config.agent_id,
                "task_id": task.task_id,
                "description": task.get("description") or "",
                "metadata": task.get("metadata") or {},
            }
            if url:
                args |= {"workdir": str(repo_dir), "base": task.get("base_branch") or "main"}
            answer = await run_git_wrapper(self._config, "start-task", args)
            if not self._slot.current(epoch):
                return None
            if answer.get("status") == "ok":
                task.note_branch(answer.get("branch"))
                task.note_base_commit(answer.get("base_commit"))
                self._log.info("git_start_task_ok", task_id=task.task_id, branch=task.get("branch"))
            elif answer.get("error") == NOT_STARTED:
                detail = answer.get("detail")
                return await self._not_woken(
                    task, epoch, attempt, f"sidecar_error: cannot start the git wrapper: {detail}"
                )
            else:
                task.note_git_warning(answer.get("error") or "start-task failed")
                self._log.warning("git_start_task_failed", task_id=task.task_id, answer=answer)
            self._slot.save()
        except WorkspaceError as exc:
            return await self._not_woken(task, epoch, attempt, str(exc))
        except Exception as exc:  # whatever it is, the task must not wait for a wake forever
            return await self._crashed(task, epoch, attempt, exc)
        return None

    async def _workspace(self, task: LocalTask, url: str) -> Path:
        """The workspace of `url`, cloned if new, recorded with the task before use."""
        directory, cloned = await ensure_workspace(self._config, url)
        task.note_workdir(str(directory))
        self._slot.save()
        event = "workspace_cloned" if cloned else "workspace_reused"
        self._log.info(event, task_id=task.task_id, repo_url=url, workdir=str(directory))
        return directory

    async def wake(self, task: LocalTask, epoch: int) -> Woken | NotWoken | None:
        """Run the wake command until it succeeds or the attempts are used up.

        The attempts continue from the task's wake_attempts (a task woken again after a
        restart has used some); 1 + len(wake_retry_delays_ms) in all. Sends a wake_result
        for every attempt. None means the task left the slot meanwhile.
        """
        task_id = task.task_id
        delays = self._config.wake_retry_delays_ms
        attempt = task.wake_attempts + 1
        if attempt > len(delays) + 1:
            self._log.error("wake_failed", task_id=task_id, attempts=task.wake_attempts)
            return NotWoken(f"wake_failed_after_{len(delays)}_attempts")
        try:
            task.move(WAKING)
            self._slot.save()
            plan = plan_wake(
                self._config, task, lambda session: self._note_session(task, epoch, session)
            )
            while True:
                attempt = task.count_wake_attempt()
                self._slot.save()
                self._log.info(
                    "wake_attempt", task_id=task_id, attempt=attempt, command=plan.command
                )
                process = await plan.start()
                if isinstance(process, CannotStart):
                    reason = f"sidecar_error: cannot start the wake command: {process.error}"
                    return await self._not_woken(task, epoch, attempt, reason)
                outcome = await process.wait(
                    self._config.wake_timeout_ms / 1000,
                    until=lambda: self._started(task_id),
                    poll_s=self._config.results_poll_ms / 1000,
                )
                if not self._slot.current(epoch):
                    return None
                if outcome is None or outcome.ok:
                    task.move(WAKING_CONFIRMATION)
                    self._slot.save()
                    self._log.info(
                        "wake_success", task_id=task_id, attempt=attempt, running=outcome is None
                    )
                    await self._send(frames.wake_result(task_id, "success", attempt))
                    return Woken(attempt, process)
                error = outcome.describe()
                self._log.error("wake_error", task_id=task_id, attempt=attempt, error=error)
                status = "timeout" if outcome.timed_out else "failed"
                await self._send(frames.wake_result(task_id, status, attempt, error))
                if attempt > len(delays):
                    self._log.error("wake_failed", task_id=task_id, attempts=attempt)
                    return NotWoken(f"wake_failed_after_{len(delays)}_attempts")
                delay_ms = delays[attempt - 1]
                self._log.warning(
                    "wake_retry", task_id=task_id, next_attempt=attempt + 1, delay_ms=delay_ms
                )
                await asyncio.sleep(delay_ms / 1000)
                if not self._slot.current(epoch):
                    return None
        except TooLargeForEnvironment as exc:
            return await self._not_woken(task, epoch, attempt, f"sidecar_error: {exc}")
        except Exception as exc:  # whatever it is, the task must not wait for a wake forever
            return await self._crashed(task, epoch, attempt, exc)

    def _note_session(self, task: LocalTask, epoch: int, session: str) -> None:
        """Keep the executor's session with the task, so a later run continues it."""
        if self._slot.current(epoch) and task.get("executor_session") != session:
            task.note_executor_session(session)
            self._slot.save()
            self._log.info("executor_session", task_id=task.task_id, session_id=session)

    async def _crashed(
        self, task: LocalTask, epoch: int, attempt: int, exc: Exception
    ) -> NotWoken | None:
        self._log.error(
            "wake_crashed",
            task_id=task.task_id,
            attempt=attempt,
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(limit=8),
        )
        return await self._not_woken(
            task, epoch, attempt, f"sidecar_error: {type(exc).__name__}: {exc}"
        )

    async def _not_woken(
        self, task: LocalTask, epoch: int, attempt: int, reason: str
    ) -> NotWoken | None:
        """Report attempt as failed with reason; the caller fails the task with it."""
        if not self._slot.current(epoch):
            return None
        self._log.error("wake_error", task_id=task.task_id, attempt=attempt, error=reason)
        await self._send(frames.wake_result(task.task_id, "failed", attempt, reason))
        return NotWoken(reason)
