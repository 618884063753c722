"""The wake template's variables (§6.4), handed to the shell as its environment.

The Node.js sidecar spliced the task's text into the command line with only ``"``
escaped, so ``$(…)`` or a backtick in a description ran on the agent's machine. Here
nothing is spliced: ``${TASK_ID}``, ``${TASK_DESCRIPTION}`` and ``${TASK_JSON}`` stay in
the template and are environment variables of the ``/bin/sh -c`` that runs it. The
shell expands a variable once and never parses the result again, so whatever the task
says stays text. For ordinary text, templates written for the Node sidecar (placeholders
inside double quotes, or bare for one-word values) produce the same arguments as before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Linux refuses to start a process with one environment string ("NAME=value") over
# 128 KiB (MAX_ARG_STRLEN); stay clear of it.
ENVIRONMENT_VALUE_MAX_BYTES = 120_000


class TooLargeForEnvironment(Exception):
    """A variable the command uses does not fit in a process environment."""

    def __init__(self, name: str, size: int) -> None:
        super().__init__(
            f"{name} is {size} bytes, over the {ENVIRONMENT_VALUE_MAX_BYTES} a process "
            "environment can carry; read the task from $AGENTCOM_TASK_FILE instead"
        )


def task_json(task: dict[str, Any]) -> str:
    """Compact JSON as JavaScript's JSON.stringify writes it (no spaces, no ASCII escaping)."""
    return json.dumps(task, separators=(",", ":"), ensure_ascii=False)


def template_variables(task: dict[str, Any], task_file: Path) -> dict[str, str]:
    """The variables a wake or cancel template may use, by name (missing value → empty)."""
    return {
        "TASK_ID": str(task.get("task_id") or ""),
        "TASK_DESCRIPTION": str(task.get("description") or ""),
        "TASK_JSON": task_json(task),
        "TASK_FILE": str(task_file),
        "TASK_GENERATION": str(task.get("generation") or 0),
    }


def environment_safe(variables: dict[str, str], template: str) -> dict[str, str]:
    """variables made fit for a process environment.

    NUL cannot be in an environment string, so it becomes U+FFFD, and a lone surrogate
    cannot be encoded, so it becomes "?". A value too large for the environment is left
    out, unless template names it: then the command cannot run as written, and
    TooLargeForEnvironment says why.
    """
    safe: dict[str, str] = {}
    for name, value in variables.items():
        encoded = value.replace("\x00", "\ufffd").encode("utf-8", errors="replace")
        value, size = encoded.decode("utf-8"), len(encoded)
        if size > ENVIRONMENT_VALUE_MAX_BYTES:
            if name in template:
                raise TooLargeForEnvironment(name, size)
            continue
        safe[name] = value
    return safe
