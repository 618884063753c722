"""Wake-template substitution, byte-for-byte compatible with the Node.js sidecar (§6.4).

Node runs, in this order::

    command.replace(/\\$\\{TASK_ID\\}/g, id)
           .replace(/\\$\\{TASK_JSON\\}/g, JSON.stringify(task).replace(/"/g, '\\\\"'))
           .replace(/\\$\\{TASK_DESCRIPTION\\}/g, description.replace(/"/g, '\\\\"'))

Three consequences are reproduced on purpose, because existing wake templates
rely on Node's output: substitutions are sequential (a later placeholder inside
an earlier value is replaced too); nothing but ``"`` is escaped (``\\`` and ``$``
pass through); and the inserted values go through JavaScript's replacement-pattern
rules, so ``$$`` becomes ``$``, ``$&`` the placeholder, ``$``` and ``$'`` the text
before and after it. Every other ``$`` sequence is kept literally.
"""

from __future__ import annotations

import json
from typing import Any


def task_json(task: dict[str, Any]) -> str:
    """Compact JSON as JavaScript's JSON.stringify writes it (no spaces, no ASCII escaping)."""
    return json.dumps(task, separators=(",", ":"), ensure_ascii=False)


def substitute_wake_template(template: str, task: dict[str, Any]) -> str:
    """Return the wake command for task exactly as the Node sidecar builds it."""
    task_id = task.get("task_id") or ""
    description = task.get("description") or ""
    command = js_replace_all(template, "${TASK_ID}", str(task_id))
    command = js_replace_all(command, "${TASK_JSON}", task_json(task).replace('"', '\\"'))
    return js_replace_all(command, "${TASK_DESCRIPTION}", str(description).replace('"', '\\"'))


def js_replace_all(subject: str, needle: str, replacement: str) -> str:
    """Emulate ``subject.replace(/needle/g, replacement)`` for a regex without capture groups."""
    if not needle:
        return subject
    pieces: list[str] = []
    cursor = 0
    while True:
        position = subject.find(needle, cursor)
        if position < 0:
            break
        pieces.append(subject[cursor:position])
        pieces.append(_expand(replacement, subject, position, needle))
        cursor = position + len(needle)
    pieces.append(subject[cursor:])
    return "".join(pieces)


def _expand(replacement: str, subject: str, position: int, matched: str) -> str:
    """ECMAScript GetSubstitution with no captures and no named groups."""
    if "$" not in replacement:
        return replacement
    out: list[str] = []
    index = 0
    length = len(replacement)
    while index < length:
        char = replacement[index]
        following = replacement[index + 1] if index + 1 < length else ""
        if char == "$" and following == "$":
            out.append("$")
        elif char == "$" and following == "&":
            out.append(matched)
        elif char == "$" and following == "`":
            out.append(subject[:position])
        elif char == "$" and following == "'":
            out.append(subject[position + len(matched) :])
        else:
            out.append(char)
            index += 1
            continue
        index += 2
    return "".join(out)
