"""Which sent frames still wait for the hub's acknowledgement.

A task's final report (task_complete or task_failed) is kept in queue.json
until the hub answers it with ``task_ack`` or a refusal for that task. After a
reconnect every kept report is sent again: the hub fences duplicates, so a
resend is harmless, and a report lost with a dropped connection or a restarted
hub is not lost for good.
"""

from __future__ import annotations

from typing import Any

# The bounded list keeps a hub that never acknowledges from growing queue.json forever.
MAX_PENDING_REPORTS = 20

_ACK_STATUSES = {
    "task_complete": {"complete", "completed"},
    "task_failed": {"retried", "dead_letter", "failed"},
}
_REFUSAL_PREFIXES = {
    "task_complete": "task_complete_failed",
    "task_failed": "task_fail_failed",
}


def add_report(pending: list[dict[str, Any]], frame: dict[str, Any]) -> None:
    """Append frame, replacing an older final report of the same task."""
    pending[:] = [f for f in pending if f.get("task_id") != frame.get("task_id")]
    pending.append(frame)
    del pending[:-MAX_PENDING_REPORTS]


def settle_by_ack(pending: list[dict[str, Any]], task_id: Any, status: Any) -> bool:
    """Drop the reports a task_ack answers; return whether any was dropped.

    An ``accepted``/``rejected`` ack answers task_accepted/task_rejected, never a final
    report; any other status not known here is taken as an answer to the final report.
    """
    if status in ("accepted", "rejected"):
        return False

    def answered(frame: dict[str, Any]) -> bool:
        known = _ACK_STATUSES.get(frame.get("type", ""), set())
        return status in known or status not in set().union(*_ACK_STATUSES.values())

    return _drop(pending, task_id, answered)


def settle_by_error(pending: list[dict[str, Any]], task_id: Any, error: Any) -> bool:
    """Drop the reports a fenced refusal (``task_complete_failed: …``) answers."""
    if not isinstance(error, str):
        return False

    def answered(frame: dict[str, Any]) -> bool:
        prefix = _REFUSAL_PREFIXES.get(frame.get("type", ""))
        return prefix is not None and error.startswith(prefix)

    return _drop(pending, task_id, answered)


def _drop(pending: list[dict[str, Any]], task_id: Any, answered: Any) -> bool:
    kept = [f for f in pending if not (f.get("task_id") == task_id and answered(f))]
    changed = len(kept) != len(pending)
    pending[:] = kept
    return changed
