"""`manage.py create_agent AGENT_ID`: create (or reuse) an agent and print a new token."""

from django.core.management.base import BaseCommand, CommandError

from agentcom_site.core.errors import HubError
from agents import services, tokens


class Command(BaseCommand):
    help = "Create an agent if needed and issue it a token; the token is the last line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("agent_id")
        parser.add_argument("--capabilities", default="", help="comma-separated, e.g. code,python")
        parser.add_argument("--name", default="")

    def handle(self, *args, agent_id: str, capabilities: str, name: str, **options) -> None:
        caps = [c.strip() for c in capabilities.split(",") if c.strip()]
        try:
            agent, created = services.ensure_agent(agent_id, name=name, capabilities=caps)
        except HubError as error:
            raise CommandError(error.detail) from None
        _, token = tokens.issue_agent_token(agent)
        verb = "Created" if created else "Reused"
        self.stderr.write(f"{verb} agent {agent.agent_id}; its token is shown once:")
        self.stdout.write(token)
