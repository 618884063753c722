"""`manage.py onboard_agent AGENT_ID`: agent, token and a ready sidecar directory in one go.

With `--verify` it then waits for the sidecar to connect and to complete a task pinned
to it, and names the step that failed otherwise (exit status 1).
"""

import shlex
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from agentcom_site.core.errors import HubError
from agents import onboarding, services
from agents.models import Agent, AgentState
from agents.selectors import current_task_ids
from tasks import queue
from tasks.models import HELD, Priority, Task, TaskStatus
from tasks.selectors import task_timeline

POLL_S = 0.2


class VerifyFailed(CommandError):
    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"onboarding check failed: {step} ({detail})")
        self.step = step


class Command(BaseCommand):
    help = (
        "Onboard an agent: create it (or issue an existing one a new token), write its "
        "sidecar's config.json and a systemd unit into --out, and print the command that "
        "starts the sidecar. With --verify, wait until that sidecar has connected and "
        "completed a small task pinned to it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("agent_id", help="the agent's id, e.g. gcu-sleeper")
        parser.add_argument(
            "--capabilities", default="", help="comma-separated, e.g. code,python (default: none)"
        )
        parser.add_argument(
            "--hub-url",
            default="ws://localhost:8000/ws",
            help="the hub's agent WebSocket URL, as the sidecar reaches it (default: %(default)s)",
        )
        parser.add_argument(
            "--hub-api-url",
            default="",
            help="the hub's HTTP base URL (default: derived from --hub-url, ws→http, wss→https)",
        )
        parser.add_argument(
            "--wake-command",
            default="",
            help="shell command the sidecar runs to wake the agent for a task; it may use "
            "${TASK_ID}, ${TASK_DESCRIPTION}, ${TASK_JSON}, ${TASK_FILE} and "
            "${TASK_GENERATION}, also exported as $AGENTCOM_TASK_ID etc. (default: "
            f"'{onboarding.DEFAULT_WAKE_COMMAND}'); to try the pipeline without an agent: "
            "'/path/to/agentcom/.venv/bin/python -m sidecar.fake_agent --delay 2'",
        )
        parser.add_argument(
            "--out",
            default="",
            help="directory for config.json and the unit file (default: ~/.agentcom/AGENT_ID)",
        )
        parser.add_argument(
            "--verify",
            action="store_true",
            help="wait for the sidecar to connect and complete an onboarding task",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=120.0,
            help="seconds --verify waits before naming the step that failed (default: %(default)s)",
        )

    def handle(self, *args, agent_id: str, **options) -> None:
        if not options["hub_url"].startswith(("ws://", "wss://")):
            raise CommandError("--hub-url must be a ws:// or wss:// URL")
        capabilities = [c.strip() for c in options["capabilities"].split(",") if c.strip()]
        out = Path(options["out"] or Path.home() / ".agentcom" / agent_id).expanduser().absolute()
        try:
            registration = services.register_agent(
                agent_id, capabilities=capabilities, allow_existing=True
            )
        except HubError as refusal:
            raise CommandError(refusal.detail) from None
        config = onboarding.sidecar_config(
            agent_id=agent_id,
            token=registration.token,
            hub_url=options["hub_url"],
            hub_api_url=options["hub_api_url"] or None,
            capabilities=capabilities or registration.agent.capabilities,
            wake_command=options["wake_command"] or None,
        )
        config_path = onboarding.write_config(out, config)
        unit = onboarding.systemd_unit(agent_id, config_path)
        unit_path = out / onboarding.unit_file_name(agent_id)
        unit_path.write_text(unit, encoding="utf-8")

        if registration.created:
            done = f"Created agent {agent_id} with a new token."
        else:
            done = (
                f"Agent {agent_id} already existed: issued it a new token "
                "(its older tokens stay valid until revoked)."
            )
        lines = [
            done,
            f"Wrote {config_path} (mode 0600: it holds the token).",
            f"Wrote {unit_path} (a systemd unit, shown below).",
            "",
            "Start the sidecar:",
            "",
            f"  {onboarding.sidecar_command(config_path)}",
            "",
            "Or keep it running as a systemd user service:",
            "",
            f"  systemctl --user enable --now {shlex.quote(str(unit_path))}",
            "",
            f"{unit_path}:",
            unit.rstrip("\n"),
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()
        if options["verify"]:
            self.verify(registration.agent, options["timeout"])

    # --- --verify ------------------------------------------------------------------
    def verify(self, agent: Agent, timeout: float) -> None:
        # Submitted before the sidecar connects, so its identify schedules the task at once.
        # Urgent and pinned: the check goes ahead of any queue the agent may find.
        task, _ = queue.submit_task(
            description=f"AgentCom onboarding check for {agent.agent_id}: report success.",
            title=f"Onboarding check: {agent.agent_id}",
            submitted_by="operator:onboard_agent",
            priority=Priority.URGENT,
            pinned_to=agent,
            max_retries=1,
            metadata={"onboarding_check": True},
        )
        self.step(f"Waiting for {agent.agent_id} to connect and complete {task.id} ...")
        deadline = time.monotonic() + timeout
        try:
            self.wait(lambda: self.connected(agent), deadline, "agent never connected", agent)
            self.step(f"  connected: {agent.agent_id}")
            self.wait(lambda: self.accepted(task.id), deadline, "task not accepted", agent, task)
            self.step(f"  accepted: {task.id}")
            self.wait(lambda: self.finished(task.id), deadline, "timeout", agent, task)
            self.step(f"  completed: {task.id}")
        except VerifyFailed:
            self.withdraw(task.id)
            raise
        self.stdout.write(self.style.SUCCESS(f"onboarding check passed for {agent.agent_id}"))

    def step(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def wait(
        self, reached, deadline: float, step: str, agent: Agent, task: Task | None = None
    ) -> None:
        while not reached():
            if time.monotonic() > deadline:
                raise VerifyFailed(step, self.diagnose(agent, task))
            time.sleep(POLL_S)

    @staticmethod
    def diagnose(agent: Agent, task: Task | None) -> str:
        """The likeliest reason the check made no progress, from what the hub knows."""
        agent.refresh_from_db()
        if agent.state == AgentState.OFFLINE:
            seen = "it was last seen " + str(agent.last_seen) if agent.last_seen else "never"
            return f"the agent is not connected ({seen}); is its sidecar running?"
        held = current_task_ids([agent.pk]).get(agent.pk)
        if task is not None and held and held != task.id:
            return f"the agent is busy with {held}"
        if agent.busy:
            return "the agent refused the check as busy"
        if agent.unresponsive:
            return "the agent did not accept the check in time (flagged unresponsive)"
        if task is not None:
            last = task_timeline(task).exclude(reason="").last()
            if last is not None:
                return f"the check was {last.event}: {last.reason}"
        return "no progress before the --timeout ran out"

    @staticmethod
    def connected(agent: Agent) -> bool:
        return Agent.objects.filter(pk=agent.pk).exclude(state=AgentState.OFFLINE).exists()

    @staticmethod
    def accepted(task_id: str) -> bool:
        task = Task.objects.get(pk=task_id)
        if task.status in (TaskStatus.DEAD_LETTER, TaskStatus.CANCELLED):
            raise VerifyFailed("task failed", task.last_error or task.status)
        return (
            task.status == TaskStatus.WORKING
            or task.status == TaskStatus.COMPLETED
            or task.accepted_at is not None
        )

    @staticmethod
    def finished(task_id: str) -> bool:
        task = Task.objects.get(pk=task_id)
        if task.status in (TaskStatus.DEAD_LETTER, TaskStatus.CANCELLED):
            raise VerifyFailed("task failed", task.last_error or task.status)
        return task.status == TaskStatus.COMPLETED

    @staticmethod
    def withdraw(task_id: str) -> None:
        """A failed check leaves no onboarding task behind in the queue."""
        if Task.objects.filter(pk=task_id, status__in=(TaskStatus.QUEUED, *HELD)).exists():
            try:
                queue.cancel_task(task_id, actor="operator:onboard_agent", reason="check failed")
            except HubError:
                pass  # it finished meanwhile
