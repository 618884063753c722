"""The frames the sidecar sends about its task's work (PROTOCOL.md §6.4, §6.5).

``generation`` is always the one from task_assign or task_continue. Free text the hub
stores (a failure reason, a wake error) is cut to the hub's limit, which refuses a
longer frame outright (``validation_failed``) and would leave the report unsettled.
"""

from __future__ import annotations

from typing import Any

from sidecar.localtask import LocalTask

REASON_MAX_CHARS = 2000  # the hub's LIMITS["reason"]


def task_failed(task: LocalTask, reason: str) -> dict[str, Any]:
    return {
        "type": "task_failed",
        "task_id": task.task_id,
        "generation": task.generation,
        "reason": reason[:REASON_MAX_CHARS],
    }


def task_progress(task: LocalTask, progress: list[Any]) -> dict[str, Any]:
    """progress holds the last value the agent reported, if any (repeated by the keepalive)."""
    frame: dict[str, Any] = {
        "type": "task_progress",
        "task_id": task.task_id,
        "generation": task.generation,
    }
    if progress:
        frame["progress"] = progress[0]
    return frame


def wake_result(
    task_id: str, status: str, attempt: int, error: str | None = None
) -> dict[str, Any]:
    """status: success, failed or timeout; error says why for the last two."""
    frame: dict[str, Any] = {
        "type": "wake_result",
        "task_id": task_id,
        "status": status,
        "attempt": attempt,
    }
    if error is not None:
        frame["error"] = error[:REASON_MAX_CHARS]
    return frame
