"""Questions to the operator and their answers (PROTOCOL.md §6.8, hub side in §3).

``ask`` sends ``task_input_required`` and waits: first for the hub's ``task_ack``
``input_required`` (or its refusal, returned with the hub's reason), then for the
``task_input`` carrying the answer, at most ``ask_operator_timeout_ms``. Every answer
is kept with the local task (``operator_answers``, saved in queue.json) before anything
else, so a ``task_input`` pushed again after a reconnect is recognised by its
``answer_id`` and ignored. An answer nobody waits for is kept the same way, and if the
task's agent is no longer running it is woken again: its task file then holds the
answers, so the new session sees them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sidecar import frames
from sidecar.localsocket import Answer, refusal
from sidecar.localtask import LocalTask
from sidecar.logs import EventLog
from sidecar.slot import TaskSlot

Send = Callable[[dict[str, Any]], Awaitable[bool]]
ACK_TIMEOUT_S = 30
ANSWER_MAX_CHARS = 10_000
QUESTION_MAX_CHARS = 4_000
REFUSAL_PREFIX = "task_input_required_failed"
# What an older hub answers for a frame it does not know: it cannot take questions.
NOT_UNDERSTOOD = frozenset({"unknown_message_type", "validation_failed"})


class OperatorAnswers:
    def __init__(
        self,
        log: EventLog,
        slot: TaskSlot,
        send: Send,
        *,
        timeout_ms: int,
        agent_running: Callable[[], bool],
        wake_again: Callable[[LocalTask], None],
    ) -> None:
        self._log = log
        self._slot = slot
        self._send = send
        self._timeout_s = timeout_ms / 1000
        self._agent_running = agent_running
        self._wake_again = wake_again
        self._acks: dict[str, asyncio.Future[Answer | None]] = {}
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def ask(self, task: LocalTask, question: str) -> Answer:
        """The operator's answer to question about task, or a refusal saying why not."""
        task_id = task.task_id
        if task_id in self._waiting:
            return refusal("already_asking", "a question about this task already waits")
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[Answer | None] = loop.create_future()
        answered: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._acks[task_id], self._waiting[task_id] = acked, answered
        try:
            frame = {
                "type": "task_input_required",
                "task_id": task_id,
                "generation": task.generation,
                "question": question,
            }
            if not await self._send(frame):
                return refusal("hub_unreachable", "the sidecar is not connected to the hub")
            try:
                refused = await asyncio.wait_for(acked, ACK_TIMEOUT_S)
            except TimeoutError:
                return refusal("hub_timeout", "the hub did not answer the question's frame")
            if refused is not None:
                return refused
            self._log.info("operator_question", task_id=task_id)
            return await self._await_answer(task, answered)
        finally:
            self._acks.pop(task_id, None)
            self._waiting.pop(task_id, None)

    async def _await_answer(self, task: LocalTask, answered: asyncio.Future[Any]) -> Answer:
        deadline = time.monotonic() + self._timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return refusal(
                    "no_answer_yet",
                    "no operator answered in time; the question stays open and its answer "
                    "will be in current_task's operator_answers",
                )
            if self._slot.active is not task:
                return refusal("not_assignee", "the task was taken from this agent meanwhile")
            try:  # in slices, so a task taken away ends the wait promptly
                entry = await asyncio.wait_for(asyncio.shield(answered), min(1.0, remaining))
            except TimeoutError:
                continue
            return {"ok": True, "result": entry}

    # ----- hub frames ----------------------------------------------------

    def on_ack(self, frame: dict[str, Any]) -> bool:
        """A task_ack input_required: the question is waiting on the hub. True if consumed."""
        if frame.get("status") != "input_required":
            return False
        self._settle(frame.get("task_id"), None)
        return True

    def on_error(self, frame: dict[str, Any]) -> bool:
        """The hub's refusal of a question. True if consumed."""
        error = frame.get("error")
        if not isinstance(error, str):
            return False
        detail = frame.get("detail")
        if error.startswith(REFUSAL_PREFIX):
            reason = error.partition(":")[2].strip() or "refused"
            text = detail if isinstance(detail, str) else f"the hub refused the question: {reason}"
            self._settle(frame.get("task_id"), refusal(reason, text))
            return True
        about_question = frame.get("message_type") in (None, "task_input_required")
        # Such errors name no task: they answer the one question in flight, if only one is.
        one_in_flight = len(self._acks) == 1 and "task_id" not in frame
        if error in NOT_UNDERSTOOD and about_question and one_in_flight:
            sentence = "the hub cannot take questions (it does not know task_input_required)"
            self._settle(next(iter(self._acks)), refusal(error, sentence))
            return True
        return False

    async def on_task_input(self, frame: dict[str, Any]) -> None:
        """An operator's answer: keep it, tell the hub it arrived, then hand it to the
        waiting call or the agent."""
        task = self._slot.active
        task_id = frame.get("task_id")
        if task is None or task_id != task.task_id:
            self._log.info("task_input_ignored", task_id=task_id, reason="not the held task")
            return
        answer, question = frame.get("answer"), frame.get("question")
        entry = {
            "answer_id": frame.get("answer_id"),
            "question": question[:QUESTION_MAX_CHARS] if isinstance(question, str) else None,
            "answer": answer[:ANSWER_MAX_CHARS] if isinstance(answer, str) else "",
            "received_at": int(time.time() * 1000),
        }
        if not task.note_operator_answer(entry):
            self._log.info("task_input_repeated", task_id=task_id, answer_id=entry["answer_id"])
            return
        self._slot.save()
        # A task_progress after the answer tells the hub it was delivered (§3.9).
        await self._send(frames.task_progress(task, []))
        waiting = self._waiting.get(task_id)
        if waiting is not None and not waiting.done():
            waiting.set_result(entry)
            self._log.info("operator_answer_delivered", task_id=task_id)
        elif self._agent_running():
            self._log.info("operator_answer_kept", task_id=task_id, reason="agent still running")
        else:
            self._log.info("operator_answer_wakes_agent", task_id=task_id)
            self._wake_again(task)

    def _settle(self, task_id: Any, outcome: Answer | None) -> None:
        pending = self._acks.get(task_id) if isinstance(task_id, str) else None
        if pending is not None and not pending.done():
            pending.set_result(outcome)
