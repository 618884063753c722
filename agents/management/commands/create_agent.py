"""`manage.py create_agent AGENT_ID`: create (or reuse) an agent and print a new token."""

from django.core.management.base import BaseCommand, CommandError

from agentcom_site.core.errors import HubError
from agents import services, tokens


class Command(BaseCommand):
    help = (
        "Create an agent if needed and issue it a token; only the token goes to stdout. "
        "onboard_agent does this and also writes the sidecar's config."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("agent_id", help="the agent's id, e.g. gcu-sleeper")
        parser.add_argument(
            "--capabilities", default="", help="comma-separated, e.g. code,python (default: none)"
        )
        parser.add_argument("--name", default="", help="display name (default: the agent id)")

    def handle(self, *args, agent_id: str, capabilities: str, name: str, **options) -> None:
        caps = [c.strip() for c in capabilities.split(",") if c.strip()]
        try:
            agent, created = services.ensure_agent(agent_id, name=name, capabilities=caps)
        except HubError as error:
            raise CommandError(error.detail) from None
        _, token = tokens.issue_agent_token(agent)
        if created:
            self.stderr.write(f"Created agent {agent.agent_id}; its token is shown once:")
        else:
            self.stderr.write(
                f"Agent {agent.agent_id} already existed; a new token for it (older ones stay "
                "valid) is shown once:"
            )
        self.stdout.write(token)
