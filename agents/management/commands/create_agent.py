"""`manage.py create_agent AGENT_ID`: create (or reuse) an agent and print a new token."""

from django.core.management.base import BaseCommand, CommandError

from agents import tokens


class Command(BaseCommand):
    help = "Create an agent if needed and issue it a token; the token is the last line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("agent_id")
        parser.add_argument("--capabilities", default="", help="comma-separated, e.g. code,python")
        parser.add_argument("--name", default="")

    def handle(self, *args, agent_id: str, capabilities: str, name: str, **options) -> None:
        if not 0 < len(agent_id) <= 128 or agent_id.startswith("operator:"):
            raise CommandError("agent_id must be 1-128 characters and not start with operator:")
        caps = [c.strip() for c in capabilities.split(",") if c.strip()]
        agent, created = tokens.create_agent(agent_id, name=name, capabilities=caps)
        if not created and (caps or name):
            agent.capabilities = caps or agent.capabilities
            agent.name = name or agent.name
            agent.save(update_fields=["capabilities", "name"])
        _, token = tokens.issue_agent_token(agent)
        verb = "Created" if created else "Reused"
        self.stderr.write(f"{verb} agent {agent.agent_id}; its token is shown once:")
        self.stdout.write(token)
