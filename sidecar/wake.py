"""Preparing the wake (and cancel) command for a task (§6.4).

A command gets the template substitution of the Node sidecar plus environment
variables, which templates should prefer because they need no quoting:
AGENTCOM_TASK_ID, AGENTCOM_TASK_FILE, AGENTCOM_TASK_DESCRIPTION,
AGENTCOM_TASK_JSON, AGENTCOM_TASK_GENERATION, AGENTCOM_RESULTS_DIR,
AGENTCOM_SIDECAR_CONFIG and AGENTCOM_AGENT_ID.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from sidecar.config import SidecarConfig
from sidecar.queuefile import LocalTask, write_atomic
from sidecar.shell import ShellOutcome, run_shell
from sidecar.template import substitute_wake_template, task_json


@dataclass(frozen=True)
class ShellPlan:
    """A ready-to-run command: what, where, with which environment, output to which file."""

    command: str
    cwd: Path
    env: dict[str, str]
    output_file: Path

    async def run(self, timeout_ms: int) -> ShellOutcome:
        return await run_shell(
            self.command,
            cwd=self.cwd,
            env=self.env,
            timeout_s=timeout_ms / 1000,
            output_file=self.output_file,
        )


def task_file_path(config: SidecarConfig, task_id: str) -> Path:
    return config.tasks_dir / f"{task_id}.json"


def plan_command(config: SidecarConfig, template: str, task: LocalTask, purpose: str) -> ShellPlan:
    """Substitute template for task, write the task file, and build the environment.

    purpose ("wake" or "cancel") names the output file kept beside the task file.
    """
    task_file = task_file_path(config, task["task_id"])
    write_atomic(task_file, json.dumps(task, indent=2, ensure_ascii=False))
    return ShellPlan(
        command=substitute_wake_template(template, task),
        cwd=config.sidecar_dir,
        env=task_environment(config, task, task_file),
        output_file=config.tasks_dir / f"{task['task_id']}.{purpose}.log",
    )


def task_environment(config: SidecarConfig, task: LocalTask, task_file: Path) -> dict[str, str]:
    """The sidecar's own environment plus the AGENTCOM_* variables describing task."""
    env = dict(os.environ)
    env.update(
        AGENTCOM_TASK_ID=str(task["task_id"]),
        AGENTCOM_TASK_FILE=str(task_file),
        AGENTCOM_TASK_DESCRIPTION=str(task.get("description") or ""),
        AGENTCOM_TASK_JSON=task_json(task),
        AGENTCOM_TASK_GENERATION=str(task.get("generation") or 0),
        AGENTCOM_RESULTS_DIR=str(config.results_dir),
        AGENTCOM_SIDECAR_CONFIG=str(config.config_path),
        AGENTCOM_AGENT_ID=config.agent_id,
    )
    return env


def remove_task_files(config: SidecarConfig, task_id: str) -> None:
    """Delete the task file and command output kept for task_id (missing files are fine)."""
    for name in (f"{task_id}.json", f"{task_id}.wake.log", f"{task_id}.cancel.log"):
        with contextlib.suppress(OSError):
            (config.tasks_dir / name).unlink()
