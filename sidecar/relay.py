"""The relay: answers hub frames for the sidecar's one task slot (§6.2, §6.3).

Guarantees: the slot is saved to queue.json before anything about it is sent;
a final report is kept until the hub acknowledges it and resent after every
reconnect; after ``identified`` the held task is reported so the hub can decide
whether it continues.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from sidecar.agentdesk import AgentDesk
from sidecar.config import SidecarConfig
from sidecar.localtask import LocalTask
from sidecar.logs import EventLog
from sidecar.operatoranswers import OperatorAnswers
from sidecar.slot import TaskSlot
from sidecar.taskwork import TaskWork

# Task ids become file names; anything else could escape results_dir.
TASK_ID_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


class HubLink(Protocol):
    async def send(self, frame: dict[str, Any]) -> bool: ...


class Relay:
    """The FrameHandler of the hub connection."""

    def __init__(self, config: SidecarConfig, log: EventLog) -> None:
        self._config = config
        self._log = log
        self._slot = TaskSlot(config.queue_path)
        self._link: HubLink | None = None
        self._work = TaskWork(config, log, self._slot, self._send)
        self._answers = OperatorAnswers(
            log,
            self._slot,
            self._send,
            timeout_ms=config.ask_operator_timeout_ms,
            agent_running=self._work.agent_running,
            wake_again=self._work.wake_again,
        )
        self._desk = AgentDesk(config, log, self._slot, self._send, self._answers)
        self._stopping = False

    def attach(self, link: HubLink) -> None:
        self._link = link

    def start(self) -> None:
        """Move a task left active by a previous run to `recovering`; start watching results."""
        displaced = self._slot.recovering
        found = self._slot.recover_at_start()
        if found is not None:
            if displaced is not None:
                self._log.warning("recovery_replaced", task_id=displaced.task_id)
            self._log.warning("recovery_found", task_id=found.task_id, status=found.status)
        self._work.start()
        self._desk.start()

    async def stop(self) -> None:
        """Stop watching, kill running commands and save queue.json (the slot is kept).

        Frames arriving from now on are ignored: no task is accepted during shutdown.
        """
        self._stopping = True
        await self._desk.stop()
        await self._work.stop()
        self._slot.save()

    # ----- connection callbacks ------------------------------------------

    async def on_identified(self) -> None:
        """Resend unacknowledged reports, then report the held task."""
        if self._stopping:
            return
        for frame in list(self._slot.pending_reports):
            self._log.info(
                "report_resent", task_id=frame.get("task_id"), frame_type=frame.get("type")
            )
            await self._send(frame)
        recovering, active = self._slot.recovering, self._slot.active
        if recovering is not None:
            await self._send(
                {
                    "type": "task_recovering",
                    "task_id": recovering.task_id,
                    "description": recovering.get("description"),
                    "metadata": recovering.get("metadata"),
                    "last_status": recovering.status,
                }
            )
            await self._send(_state_report(recovering))
            self._log.info("recovery_reported", task_id=recovering.task_id)
        elif active is not None:
            await self._send(_state_report(active))
            self._log.info("state_reported", task_id=active.task_id, status=active.status)

    def on_disconnected(self) -> None:
        self._log.debug("disconnected")

    async def on_frame(self, frame: dict[str, Any]) -> None:
        if self._stopping:
            self._log.info("frame_ignored_during_shutdown", frame_type=frame["type"])
            return
        handler = {
            "task_assign": self._on_assign,
            "task_ack": self._on_ack,
            "error": self._on_error,
            "task_continue": self._on_continue,
            "task_reassign": self._on_reassign,
            "state_report_ack": self._on_state_report_ack,
            "task_cancelled": self._on_cancelled,
            "task_input": self._on_task_input,
        }.get(frame["type"])
        if handler is None:
            self._log.debug("unhandled_message", frame_type=frame["type"])
            return
        await handler(frame)

    # ----- hub frames ----------------------------------------------------

    async def _on_assign(self, frame: dict[str, Any]) -> None:
        task_id = frame.get("task_id")
        if not isinstance(task_id, str) or not TASK_ID_PATTERN.fullmatch(task_id):
            self._log.error("invalid_task_assign", bad_task_id=repr(task_id)[:200])
            if isinstance(task_id, str) and task_id:
                await self._send(
                    {"type": "task_rejected", "task_id": task_id, "reason": "invalid_task_id"}
                )
            return
        held = self._slot.held()
        if held is not None:
            self._log.warning(
                "task_rejected", task_id=task_id, reason="busy", held_task_id=held.task_id
            )
            rejection = {"type": "task_rejected", "task_id": task_id, "reason": "busy"}
            if frame.get("generation") is not None:
                rejection["generation"] = frame["generation"]
            await self._send(rejection)
            return
        self._work.clear_stale_files(task_id)
        task = LocalTask.from_assign(frame)
        epoch = self._slot.occupy(task)
        self._slot.save()
        await self._send(
            {"type": "task_accepted", "task_id": task_id, "generation": task.generation}
        )
        self._log.info("task_received", task_id=task_id, generation=task.generation)
        self._work.launch(task, epoch)

    async def _on_ack(self, frame: dict[str, Any]) -> None:
        task_id, status = frame.get("task_id"), frame.get("status")
        self._log.debug("task_ack", task_id=task_id, status=status)
        if self._answers.on_ack(frame):
            return
        if self._slot.settle_ack(task_id, status):
            self._log.info("report_acknowledged", task_id=task_id, status=status)

    async def _on_error(self, frame: dict[str, Any]) -> None:
        task_id, error = frame.get("task_id"), frame.get("error")
        self._log.error("hub_error", task_id=task_id, error=error, detail=frame.get("detail"))
        if self._answers.on_error(frame):
            return
        if task_id and self._slot.settle_error(task_id, error):
            self._log.info("report_refused", task_id=task_id, error=error)

    async def _on_continue(self, frame: dict[str, Any]) -> None:
        task_id, generation = frame.get("task_id"), frame.get("generation")
        recovering, active = self._slot.recovering, self._slot.active
        if recovering is not None and recovering.task_id == task_id:
            if isinstance(generation, int):
                recovering.set_generation(generation)
            self._slot.take(task_id)
            epoch = self._slot.occupy(recovering)
            self._work.recover(recovering, epoch)
            self._log.info(
                "recovery_continued",
                task_id=task_id,
                generation=recovering.generation,
                status=recovering.status,
            )
        elif active is not None and active.task_id == task_id:
            if isinstance(generation, int) and generation != active.generation:
                active.set_generation(generation)
                self._slot.save()
            self._log.info("task_continued", task_id=task_id, generation=active.generation)
        else:
            self._log.debug("continue_ignored", task_id=task_id)

    async def _on_reassign(self, frame: dict[str, Any]) -> None:
        self._drop(frame.get("task_id"), "task_reassign")

    async def _on_state_report_ack(self, frame: dict[str, Any]) -> None:
        action = frame.get("action")
        self._log.info("state_report_ack", task_id=frame.get("task_id"), action=action)
        if action == "abort":
            self._drop(frame.get("task_id"), "state_report_abort")

    async def _on_cancelled(self, frame: dict[str, Any]) -> None:
        task = self._drop(frame.get("task_id"), "task_cancelled", cancel_command=True)
        if task is not None:
            self._log.info("task_cancelled", task_id=task.task_id, reason=frame.get("reason"))

    async def _on_task_input(self, frame: dict[str, Any]) -> None:
        await self._answers.on_task_input(frame)

    # ----- helpers -------------------------------------------------------

    def _drop(self, task_id: Any, why: str, *, cancel_command: bool = False) -> LocalTask | None:
        """Take task_id out of the slot (saved), stop its work and remove its files."""
        task = self._slot.take(task_id)
        if task is None:
            self._log.debug("drop_ignored", task_id=task_id, reason=why)
            return None
        self._slot.save()
        self._work.abandon(task, cancel_command=cancel_command)
        self._log.info("task_dropped", task_id=task.task_id, reason=why)
        return task

    async def _send(self, frame: dict[str, Any]) -> bool:
        if self._link is None:
            return False
        return await self._link.send(frame)


def _state_report(task: LocalTask) -> dict[str, Any]:
    return {
        "type": "state_report",
        "task_id": task.task_id,
        "status": task.status,
        "generation": task.generation,
        "assigned_at": task.get("assigned_at"),
    }
