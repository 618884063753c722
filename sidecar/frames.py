"""The frames the sidecar sends about its task's work (PROTOCOL.md §6.4, §6.5).

``generation`` is always the one from task_assign or task_continue. Free text the hub
stores (a failure reason, a wake error) is cut to the hub's limit, which refuses a
longer frame outright (``validation_failed``) and would leave the report unsettled.
"""

from __future__ import annotations

import math
import re
from typing import Any

from sidecar.localtask import LocalTask

REASON_MAX_CHARS = 2000  # the hub's LIMITS["reason"]


def task_failed(
    task: LocalTask, reason: str, result: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The final failure report; a failed attempt's cost figures (from its result file)
    go with it, so the hub counts what the attempt spent (PROTOCOL.md §3.2)."""
    return {
        "type": "task_failed",
        "task_id": task.task_id,
        "generation": task.generation,
        "reason": reason[:REASON_MAX_CHARS],
        **attempt_cost(result or {}),
    }


# The hub's rules for the cost fields (PROTOCOL.md §1). A value outside them is left out
# here: on task_failed the hub would refuse the whole frame and the task would stay held.
COUNT_MAX = 2**53 - 1
COST_USD_MAX = 1_000_000
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}")
_SESSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,255}")


def attempt_cost(result: dict[str, Any]) -> dict[str, Any]:
    """The cost fields of result that pass the hub's rules."""
    fields: dict[str, Any] = {}
    for key in ("tokens_in", "tokens_out", "execution_ms", "iterations"):
        value = result.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= COUNT_MAX:
            fields[key] = value
    cost = result.get("cost_usd")
    number = isinstance(cost, int | float) and not isinstance(cost, bool)
    if number and math.isfinite(cost) and 0 <= cost <= COST_USD_MAX:
        fields["cost_usd"] = cost
    for key, pattern in (("model", _MODEL), ("session_id", _SESSION)):
        value = result.get(key)
        if isinstance(value, str) and pattern.fullmatch(value):
            fields[key] = value
    return fields


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
