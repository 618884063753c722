"""An explicit command from the config, run without a shell: ``executor_command``.

Its arguments may hold these placeholders, replaced by file paths and ids only, never
by task text: ``{task_file}``, ``{task_id}``, ``{results_dir}``, ``{sidecar_config}``,
``{generation}``. The agent reads the task from the task file and reports through
result files (``python -m sidecar report``), as a wake_command's agent does.
"""

from __future__ import annotations

import re

from sidecar.executors.base import Executor, Launch, RunRequest

PLACEHOLDERS = ("task_file", "task_id", "results_dir", "sidecar_config", "generation")
PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


class Shell(Executor):
    name = "shell"

    def launch(self, request: RunRequest) -> Launch:
        config, task = request.config, request.task
        values = {
            "task_file": str(request.task_file),
            "task_id": str(task.get("task_id") or ""),
            "results_dir": str(config.results_dir),
            "sidecar_config": str(config.config_path),
            "generation": str(task.get("generation") or 0),
        }
        argv = tuple(
            PLACEHOLDER.sub(lambda match: values[match[1]], argument)
            for argument in config.executor_command
        )
        return Launch(cwd=request.workdir, argv=argv)


EXECUTOR = Shell()
