"""From an agent's success result to the final report (PROTOCOL.md §6.5, §6.9).

The build-verify-fix loop: the task's verification steps run in its checkout; a failed
attempt with retries left (``max_verification_retries``, default 2) wakes the agent
again, the reports of every earlier attempt in its task file (``previous_attempts``,
kept in queue.json so a restart loses none); once the steps pass, the change's shape is
sent in ``task_classify`` and the hub's ``task_risk`` answer (awaited ``risk_wait_ms``;
an older hub has none) goes with the git wrapper's ``submit`` into the pull request.
The final report carries every attempt's report as ``verification``. A task without
steps is submitted as before.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from sidecar import frames
from sidecar.branch import risk_of
from sidecar.config import SidecarConfig
from sidecar.diffshape import diff_shape
from sidecar.localtask import LocalTask
from sidecar.logs import EventLog
from sidecar.repo import run_git_wrapper
from sidecar.results import ResultOutcome
from sidecar.slot import TaskSlot
from sidecar.verification import Checkout, run_attempt
from sidecar.workspaces import task_workdir

Send = Callable[[dict[str, Any]], Awaitable[bool]]

DEFAULT_RETRIES = 2
ATTEMPTS_MAX = 11  # the hub keeps at most this many reports from one result
# The reports' share of a frame (the hub takes frames up to 1 MiB): older attempts'
# outputs are cut to fit, the newest last.
REPORTS_BYTES_MAX = 640 * 1024
OUTPUT_CUTS = (1_000, 250, 0)


class RiskAnswers:
    """The hub's answers to task_classify, matched to the task that asked."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[dict[str, Any] | None]] = {}

    def expect(self, task_id: str) -> asyncio.Future[dict[str, Any] | None]:
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._waiting[task_id] = future
        return future

    def forget(self, task_id: str) -> None:
        self._waiting.pop(task_id, None)

    def answered(self, frame: dict[str, Any]) -> None:
        """A task_risk frame, or an error that refuses task_classify (an older hub's
        unknown_message_type, a fenced task_classify_failed, validation_failed)."""
        if frame.get("type") == "task_risk":
            self._settle(frame.get("task_id"), frame)
        elif str(frame.get("error", "")).startswith("task_classify_failed"):
            self._settle(frame.get("task_id"), None)
        elif frame.get("message_type") == "task_classify":
            for task_id in list(self._waiting):
                self._settle(task_id, None)

    def _settle(self, task_id: Any, answer: dict[str, Any] | None) -> None:
        future = self._waiting.get(task_id) if isinstance(task_id, str) else None
        if future is not None and not future.done():
            future.set_result(answer)


class Completion:
    """Turns a success result into the task's final frame, or into another attempt."""

    def __init__(self, config: SidecarConfig, log: EventLog, slot: TaskSlot, send: Send) -> None:
        self._config = config
        self._log = log
        self._slot = slot
        self._send = send
        self.risk_answers = RiskAnswers()

    async def run(self, task: LocalTask, epoch: int, outcome: ResultOutcome) -> dict | None:
        """The final frame; None when the agent is to be woken again (the task saved as
        `accepted` with its reports) or the task left the slot meanwhile."""
        task_id = task.task_id
        attempts = attempts_of(task)
        steps = task.get("verification_steps")
        if isinstance(steps, list) and steps:
            report = await run_attempt(steps, self._checkout(task), len(attempts) + 1)
            if not self._slot.current(epoch):
                return None
            attempts.append(report)
            failed = [s["label"] for s in report["steps"] if not s["passed"]]
            self._log.info(
                "verification_done", task_id=task_id, attempt=report["attempt"], failed=failed
            )
            if not report["passed"]:
                if len(attempts) <= _retries(task) and len(attempts) < ATTEMPTS_MAX:
                    task.again_after_verification(attempts)
                    self._slot.save()
                    progress = {"verification": {"attempt": report["attempt"], "failed": failed}}
                    await self._send(frames.task_progress(task, [progress]))
                    return None
                frame = {
                    "type": "task_failed",
                    "task_id": task_id,
                    "generation": task.generation,
                    "reason": "verification_failed",
                }
                return with_reports(frame, attempts)
        result = dict(outcome.result or {})
        risk = await self._classify(task, epoch)
        if not self._slot.current(epoch):
            return None
        workdir = task.get("workdir")  # the task's workspace, when it has one
        if self._config.repo_dir is not None or workdir:
            args = {"agent_id": self._config.agent_id, "task_id": task_id, "task": task.to_json()}
            if workdir:
                args["workdir"] = workdir
            if risk is not None:
                args["risk"] = risk
            answer = await run_git_wrapper(self._config, "submit", args)
            if not self._slot.current(epoch):
                return None
            if answer.get("status") == "ok" and answer.get("pr_url"):
                result["pr_url"] = answer["pr_url"]
                self._log.info("git_submit_ok", task_id=task_id, pr_url=answer["pr_url"])
            else:
                self._log.warning("git_submit_failed", task_id=task_id, answer=answer)
        frame: dict[str, Any] = {
            "type": "task_complete",
            "task_id": task_id,
            "generation": task.generation,
            "result": result,
        }
        if outcome.tokens_used is not None:
            frame["tokens_used"] = outcome.tokens_used
        self._log.info("task_complete", task_id=task_id, pr_url=result.get("pr_url"))
        return with_reports(frame, attempts)

    def _checkout(self, task: LocalTask) -> Checkout:
        base = task.get("base_commit")
        return Checkout(
            workdir=task_workdir(self._config, task.to_json()),
            base_commit=base if isinstance(base, str) else None,
            tests_timeout_s=self._config.tests_timeout_ms / 1000,
            log_file=self._config.tasks_dir / f"{task.task_id}.verify.log",
        )

    async def _classify(self, task: LocalTask, epoch: int) -> dict[str, Any] | None:
        """Ask the hub for the change's risk tier; None without a checkout, a base commit
        or an answer in time."""
        task_id, base = task.task_id, task.get("base_commit")
        workdir = task_workdir(self._config, task.to_json())
        if workdir is None or not isinstance(base, str):
            return None
        try:
            shape = await asyncio.to_thread(diff_shape, workdir, base)
        except RuntimeError as exc:
            self._log.warning("diff_shape_failed", task_id=task_id, error=str(exc))
            return None
        waiting = self.risk_answers.expect(task_id)
        try:
            ask = {"type": "task_classify", "task_id": task_id, "generation": task.generation}
            if not await self._send({**ask, "diff": shape}):
                return None
            answer = await asyncio.wait_for(waiting, self._config.risk_wait_ms / 1000)
        except TimeoutError:
            self._log.warning("risk_not_answered", task_id=task_id)
            return None
        finally:
            self.risk_answers.forget(task_id)
        if not self._slot.current(epoch) or answer is None:
            return None
        risk = risk_of(answer)
        if risk is not None:
            self._log.info("risk_classified", task_id=task_id, tier=risk["tier"])
        return risk


def with_reports(frame: dict[str, Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """frame with `verification` (every attempt's report, bounded to fit a frame)."""
    if attempts:
        frame["verification"] = bounded(attempts[-ATTEMPTS_MAX:])
    return frame


def bounded(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reports cut to REPORTS_BYTES_MAX: earlier attempts' outputs first."""
    reports = json.loads(json.dumps(attempts))
    for cut in OUTPUT_CUTS:
        for scope in (reports[:-1], reports):
            if _size(reports) <= REPORTS_BYTES_MAX:
                return reports
            for attempt in scope:
                for step in attempt.get("steps", []):
                    if len(step.get("output", "")) > cut:
                        step["output"] = step["output"][-cut:] if cut else ""
                        step["truncated"] = True
    return reports


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


def attempts_of(task: LocalTask) -> list[dict[str, Any]]:
    """The reports of the task's earlier attempts (a copy of the list)."""
    kept = task.get("previous_attempts")
    return [a for a in kept if isinstance(a, dict)] if isinstance(kept, list) else []


def _retries(task: LocalTask) -> int:
    value = task.get("max_verification_retries")
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else DEFAULT_RETRIES
