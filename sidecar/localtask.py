"""The sidecar's one task and its local status (PROTOCOL.md §6.2).

This is the only code that changes a task's local status, and it allows only
these moves::

    accepted -> waking -> waking_confirmation -> working
    accepted -> working                      (an agent that picks up its task itself)
    any status but failed -> failed

plus ``wake_again`` (back to ``accepted`` when an operator's answer must reach a new
session), and the recovery moves after a restart, once the hub has answered with
``task_continue``: a task whose agent confirmed it (``.started``) goes back to
``working``; any other goes back to ``accepted`` to be woken again, its
``wake_attempts`` kept so the limit of attempts still holds.

The task is kept as the JSON object read from or written to queue.json, which the
Node.js sidecar shares: field order and unknown fields survive as read.
"""

from __future__ import annotations

import time
from typing import Any

ACCEPTED = "accepted"
WAKING = "waking"
WAKING_CONFIRMATION = "waking_confirmation"
WORKING = "working"
FAILED = "failed"

# What a task says "done" means (PROTOCOL.md §3.2), kept for the executors' prompt.
TASK_DEFINITION_FIELDS = (
    "repo",
    "file_hints",
    "success_criteria",
    "verification_steps",
    "max_verification_retries",
    "complexity",
)

# Answers kept with a task (its task file carries them to a new session).
MAX_OPERATOR_ANSWERS = 20

_MOVES: dict[str, frozenset[str]] = {
    ACCEPTED: frozenset({WAKING, WORKING, FAILED}),
    WAKING: frozenset({WAKING_CONFIRMATION, FAILED}),
    WAKING_CONFIRMATION: frozenset({WORKING, FAILED}),
    WORKING: frozenset({FAILED}),
    FAILED: frozenset(),
}


class IllegalMove(Exception):
    """A status change the task's lifecycle does not allow (a bug in the caller)."""

    code = "illegal_move"

    def __init__(self, task_id: str, from_status: Any, to_status: str) -> None:
        super().__init__(f"task {task_id} cannot move from {from_status!r} to {to_status!r}")
        self.from_status = from_status
        self.to_status = to_status


class LocalTask:
    """A task as stored locally: task_id, description, metadata, status, assigned_at,
    generation, wake_attempts, and optionally title, priority, complete_by, branch,
    git_warning, the task definition fields, base_branch and executor_session."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields

    @classmethod
    def from_assign(cls, assign: dict[str, Any]) -> LocalTask:
        """The stored task for a task_assign frame, in the Node sidecar's field order."""
        metadata = assign.get("metadata")
        fields: dict[str, Any] = {
            "task_id": assign["task_id"],
            "description": assign.get("description") or "",
            "metadata": metadata if isinstance(metadata, dict) else {},
            "status": ACCEPTED,
            "assigned_at": assign.get("assigned_at") or int(time.time() * 1000),
            "generation": assign.get("generation") or 0,
            "wake_attempts": 0,
        }
        for optional in ("title", "priority", "complete_by", *TASK_DEFINITION_FIELDS):
            if assign.get(optional) is not None:
                fields[optional] = assign[optional]
        if assign.get("branch") is not None:  # "branch" here is the branch start-task made
            fields["base_branch"] = assign["branch"]
        return cls(fields)

    @classmethod
    def from_stored(cls, value: Any) -> LocalTask | None:
        """The task in a queue.json slot, or None for anything that is not a task."""
        if isinstance(value, dict) and isinstance(value.get("task_id"), str) and value["task_id"]:
            return cls(value)
        return None

    def to_json(self) -> dict[str, Any]:
        """The object written to queue.json (and, for the wake, to the task file)."""
        return dict(self._fields)

    # ----- reading -------------------------------------------------------

    @property
    def task_id(self) -> str:
        return self._fields["task_id"]

    @property
    def status(self) -> Any:
        """As stored: one of the statuses above, or whatever another sidecar wrote."""
        return self._fields.get("status")

    @property
    def generation(self) -> Any:
        """As stored; a file written by the Node sidecar may have none."""
        return self._fields.get("generation")

    @property
    def wake_attempts(self) -> int:
        value = self._fields.get("wake_attempts")
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    def get(self, key: str, default: Any = None) -> Any:
        return self._fields.get(key, default)

    # ----- changing ------------------------------------------------------

    def move(self, status: str) -> None:
        """Change the status along the lifecycle; raise IllegalMove for any other change."""
        if status not in _MOVES.get(self.status, frozenset()):
            raise IllegalMove(self.task_id, self.status, status)
        self._fields["status"] = status

    def recover(self, *, confirmed: bool) -> None:
        """After a restart and task_continue: back to working if the agent confirmed the
        task, else back to accepted to be woken again (wake_attempts kept)."""
        self._fields["status"] = WORKING if confirmed else ACCEPTED

    def count_wake_attempt(self) -> int:
        """Count one more wake attempt; return its number."""
        self._fields["wake_attempts"] = self.wake_attempts + 1
        return self._fields["wake_attempts"]

    def set_generation(self, generation: int) -> None:
        self._fields["generation"] = generation

    def note_branch(self, branch: Any) -> None:
        self._fields["branch"] = branch

    def note_git_warning(self, warning: str) -> None:
        self._fields["git_warning"] = warning

    def note_operator_answer(self, entry: dict[str, Any]) -> bool:
        """Keep an operator's answer (operator_answers); False if its answer_id is known."""
        answers = self._fields.get("operator_answers")
        if not isinstance(answers, list):
            answers = self._fields["operator_answers"] = []
        answer_id = entry.get("answer_id")
        if answer_id is not None and any(
            isinstance(known, dict) and known.get("answer_id") == answer_id for known in answers
        ):
            return False
        answers.append(entry)
        del answers[:-MAX_OPERATOR_ANSWERS]
        return True

    def wake_again(self) -> None:
        """Back to accepted with a fresh round of wake attempts: the agent is woken anew
        for the same task (an operator answered after its session ended)."""
        self._fields["status"] = ACCEPTED
        self._fields["wake_attempts"] = 0

    def note_executor_session(self, session: str) -> None:
        """The executor's session for this task; the next run of it continues there."""
        self._fields["executor_session"] = session
