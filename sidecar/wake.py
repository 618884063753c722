"""Preparing the wake (and cancel) command for a task (§6.4).

The template runs as written: the task reaches it only through environment variables
(sidecar.template explains why), the template's own names TASK_ID, TASK_DESCRIPTION,
TASK_JSON, TASK_FILE and TASK_GENERATION, each also as AGENTCOM_<name>, plus
AGENTCOM_RESULTS_DIR, AGENTCOM_SIDECAR_CONFIG and AGENTCOM_AGENT_ID. A configured
executor (sidecar.executors) gets the same environment and the same task file; its
argv is run without a shell.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sidecar.config import SidecarConfig
from sidecar.executors import get_executor
from sidecar.executors.base import RunRequest, session_id
from sidecar.executors.process import ExecPlan
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


def plan_wake(
    config: SidecarConfig,
    task: LocalTask,
    on_session: Callable[[str], None] | None = None,
) -> ShellPlan | ExecPlan:
    """The wake_command's plan, or the configured executor's for task.

    A task that already has an executor session (``executor_session``, noted by an
    earlier run) continues it. on_session hears of a run's session id as soon as it is
    known. Raises TooLargeForEnvironment as plan_command does.
    """
    if config.executor is None:
        return plan_command(config, config.wake_command or "", task, "wake")
    executor = get_executor(config.executor)
    task_file = task_file_path(config, task.task_id)
    write_atomic(task_file, json.dumps(task.to_json(), indent=2, ensure_ascii=False))
    session = task.get("executor_session")
    launch = executor.launch(
        RunRequest(
            config=config,
            task=task.to_json(),
            task_file=task_file,
            resume_session=session_id(session),
        )
    )
    output_file = config.tasks_dir / f"{task.task_id}.wake.log"
    env = task_environment(config, task, task_file, launch.shell_template or "")
    if config.executor_path:
        env["AGENTCOM_EXECUTOR_PATH"] = config.executor_path
    if launch.shell_template is not None:
        return ShellPlan(launch.shell_template, launch.cwd, env, output_file)
    return ExecPlan(
        command=shlex.join(launch.argv),
        argv=launch.argv,
        cwd=launch.cwd,
        env=env,
        stdin_text=launch.stdin_text,
        output_file=output_file,
        results_dir=config.results_dir,
        task_id=task.task_id,
        parser=(lambda: executor.parser(config)) if executor.streams else None,
        progress_interval_s=config.executor_progress_ms / 1000,
        on_session=on_session,
    )


def streams_results(config: SidecarConfig) -> bool:
    """Whether the sidecar itself writes the task's result files (a streaming executor)."""
    return config.executor is not None and get_executor(config.executor).streams


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
