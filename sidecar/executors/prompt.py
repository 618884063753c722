"""The prompt an executor hands its CLI on stdin, built from the task file's fields.

Every field comes from the hub and is treated as text to show, never as instructions
for the sidecar: it goes to the CLI's stdin only. Each part is bounded, so a task
cannot make the prompt grow without limit.
"""

from __future__ import annotations

import json
from typing import Any

PART_MAX_CHARS = 20_000
LIST_MAX_ITEMS = 100
ATTEMPTS_MAX = 10

CLOSING = (
    "Work in the current directory. Make the change the task asks for, check it against "
    "the success criteria and verification steps above, and finish with a short summary "
    "of what you changed and how you checked it."
)


def build_prompt(task: dict[str, Any]) -> str:
    """title, description, and when present success_criteria, file_hints,
    verification_steps, previous_attempts (earlier attempts' reports) and
    operator_answers (answers to the agent's questions)."""
    parts = []
    title = _text(task.get("title"))
    parts.append(f"# Task: {title}" if title else "# Task")
    parts.append(_text(task.get("description")) or "(no description)")
    criteria = _text(task.get("success_criteria"))
    if criteria:
        parts.append(f"## Success criteria\n{criteria}")
    hints = _items(task.get("file_hints"))
    if hints:
        parts.append("## Files to look at first\n" + "\n".join(f"- {hint}" for hint in hints))
    steps = _items(task.get("verification_steps"))
    if steps:
        lines = "\n".join(f"{n}. {step}" for n, step in enumerate(steps, 1))
        parts.append(f"## Verification steps (they are run after you finish)\n{lines}")
    attempts = task.get("previous_attempts")
    if isinstance(attempts, list) and attempts:
        parts.append(_attempts(attempts[-ATTEMPTS_MAX:]))
    answers = task.get("operator_answers")
    if isinstance(answers, list) and answers:
        parts.append(_answers(answers[-ATTEMPTS_MAX:]))
    parts.append(CLOSING)
    return "\n\n".join(parts) + "\n"


def _attempts(attempts: list[Any]) -> str:
    lines = [
        "## Earlier attempts",
        "Your earlier attempts did not pass verification. Fix what these reports show.",
    ]
    for number, attempt in enumerate(attempts, 1):
        lines.append(f"### Attempt {number}\n{_text(attempt)}")
    return "\n".join(lines)


def _answers(answers: list[Any]) -> str:
    """An operator's answers to questions asked earlier (sidecar.operatoranswers)."""
    lines = ["## The operator's answers to your questions"]
    for answer in answers:
        if isinstance(answer, dict):
            question, reply = _text(answer.get("question"), 4_000), _text(answer.get("answer"))
            lines.append(f"Q: {question}\nA: {reply}")
    return "\n".join(lines)


def _items(value: Any) -> list[str]:
    if isinstance(value, str | dict):
        value = [value]
    if not isinstance(value, list):
        return []
    return [item for item in (_text(v, 2_000) for v in value[:LIST_MAX_ITEMS]) if item]


def _text(value: Any, limit: int = PART_MAX_CHARS) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\x00", "\ufffd").strip()
    return text if len(text) <= limit else text[:limit] + " …(cut)"
