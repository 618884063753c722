"""The single task slot and its persistence in queue.json.

Every change is saved before the caller announces it. Each task put into the
``active`` slot gets a new *epoch*; background work remembers the epoch it was
started under and stops acting once the slot has moved on, so a late wake
outcome can never touch the next task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sidecar import outbox
from sidecar.localtask import LocalTask
from sidecar.queuefile import QueueState, load_queue, save_queue


class TaskSlot:
    def __init__(self, queue_path: Path) -> None:
        self._path = queue_path
        self.state: QueueState = load_queue(queue_path)
        self.epoch = 0

    @property
    def active(self) -> LocalTask | None:
        return self.state.active

    @property
    def recovering(self) -> LocalTask | None:
        return self.state.recovering

    @property
    def pending_reports(self) -> list[dict[str, Any]]:
        return self.state.pending_reports

    def held(self) -> LocalTask | None:
        return self.state.held()

    def save(self) -> None:
        save_queue(self._path, self.state)

    def recover_at_start(self) -> LocalTask | None:
        """Move a task left active by an earlier run into `recovering` (saved); return it."""
        active = self.state.active
        if active is not None:
            self.state.recovering, self.state.active = active, None
            self.save()
        return active

    def occupy(self, task: LocalTask) -> int:
        """Make task the active one under a new epoch (not saved) and return the epoch."""
        self.state.active = task
        self.epoch += 1
        return self.epoch

    def current(self, epoch: int) -> bool:
        return self.epoch == epoch and self.state.active is not None

    def take(self, task_id: Any) -> LocalTask | None:
        """Remove task_id from whichever slot holds it (not saved) and return it."""
        recovering, active = self.state.recovering, self.state.active
        if recovering is not None and recovering.task_id == task_id:
            self.state.recovering = None
            return recovering
        if active is not None and active.task_id == task_id:
            self.state.active = None
            self.epoch += 1
            return active
        return None

    def release(self, task: LocalTask, report: dict[str, Any]) -> None:
        """Clear task from the active slot and keep its final report; saved on return."""
        if self.state.active is task:
            self.state.active = None
            self.epoch += 1
        outbox.add_report(self.state.pending_reports, report)
        self.save()

    def settle_ack(self, task_id: Any, status: Any) -> bool:
        """Forget reports answered by a task_ack; saved if anything changed."""
        changed = outbox.settle_by_ack(self.state.pending_reports, task_id, status)
        if changed:
            self.save()
        return changed

    def settle_error(self, task_id: Any, error: Any) -> bool:
        """Forget reports answered by a refusal; saved if anything changed."""
        changed = outbox.settle_by_error(self.state.pending_reports, task_id, error)
        if changed:
            self.save()
        return changed
