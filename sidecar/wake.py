"""Preparing the wake (and cancel) command for a task (§6.4).

The template runs as written: the task reaches it only through environment variables
(sidecar.template explains why), the template's own names TASK_ID, TASK_DESCRIPTION,
TASK_JSON, TASK_FILE and TASK_GENERATION, each also as AGENTCOM_<name>, plus
AGENTCOM_RESULTS_DIR, AGENTCOM_SIDECAR_CONFIG and AGENTCOM_AGENT_ID.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from sidecar.config import SidecarConfig
from sidecar.localtask import LocalTask
from sidecar.queuefile import write_atomic
from sidecar.shell import CannotStart, ShellOutcome, ShellProcess, run_shell, start_shell
from sidecar.template import environment_safe, template_variables


@dataclass(frozen=True)
class ShellPlan:
    """A ready-to-run command: what, where, with which environment, output to which file."""

    command: str
    cwd: Path
    env: dict[str, str]
    output_file: Path

    async def start(self) -> ShellProcess | CannotStart:
        return await start_shell(
            self.command, cwd=self.cwd, env=self.env, output_file=self.output_file
        )

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
    """Write the task file and build the environment that carries task to template.

    purpose ("wake" or "cancel") names the output file kept beside the task file.
    Raises TooLargeForEnvironment when template uses a value no environment can hold.
    """
    task_file = task_file_path(config, task.task_id)
    write_atomic(task_file, json.dumps(task.to_json(), indent=2, ensure_ascii=False))
    return ShellPlan(
        command=template,
        cwd=config.sidecar_dir,
        env=task_environment(config, task, task_file, template),
        output_file=config.tasks_dir / f"{task.task_id}.{purpose}.log",
    )


def task_environment(
    config: SidecarConfig, task: LocalTask, task_file: Path, template: str
) -> dict[str, str]:
    """The sidecar's own environment plus the variables describing task."""
    variables = template_variables(task.to_json(), task_file)
    variables.update({f"AGENTCOM_{name}": value for name, value in variables.items()})
    variables.update(
        AGENTCOM_RESULTS_DIR=str(config.results_dir),
        AGENTCOM_SIDECAR_CONFIG=str(config.config_path),
        AGENTCOM_AGENT_ID=config.agent_id,
    )
    return {**os.environ, **environment_safe(variables, template)}


def remove_task_files(config: SidecarConfig, task_id: str) -> None:
    """Delete the task file and command output kept for task_id (missing files are fine)."""
    for name in (f"{task_id}.json", f"{task_id}.wake.log", f"{task_id}.cancel.log"):
        with contextlib.suppress(OSError):
            (config.tasks_dir / name).unlink()
