"""The OpenClaw wake as before executors: the default wake template, run by the shell.

The task reaches the template only through environment variables (sidecar.template);
the agent reports through result files.
"""

from __future__ import annotations

from sidecar.executors.base import Executor, Launch, RunRequest

# The same template the hub's onboarding writes as the default wake_command.
OPENCLAW_TEMPLATE = 'openclaw agent --message "Task: ${TASK_JSON}" --session-id ${TASK_ID}'


class OpenClaw(Executor):
    name = "openclaw"
    program = "openclaw"

    def launch(self, request: RunRequest) -> Launch:
        template = OPENCLAW_TEMPLATE
        path = request.config.executor_path
        if path:  # another openclaw binary; the shell gets it as a variable, never spliced
            template = template.replace("openclaw agent", '"${AGENTCOM_EXECUTOR_PATH}" agent', 1)
        return Launch(cwd=request.config.sidecar_dir, shell_template=template)


EXECUTOR = OpenClaw()
