"""Read-side queries over agents."""

from django.db.models import QuerySet

from agents import holdings
from agents.models import Agent, AgentState


def connected_agents() -> QuerySet[Agent]:
    return Agent.objects.exclude(state=AgentState.OFFLINE)


def current_task_ids(agent_pks: list[int]) -> dict[int, str]:
    """The task each agent holds (assigned or working), keyed by agent pk."""
    return holdings.tasks_held_by(agent_pks)


def agents_with_work() -> list[tuple[Agent, str | None]]:
    """Connected agents plus offline agents that still hold a task (PROTOCOL.md §4.2)."""
    agents = list(
        Agent.objects.exclude(state=AgentState.OFFLINE)
        | Agent.objects.filter(pk__in=holdings.holder_pks())
    )
    tasks = current_task_ids([a.pk for a in agents])
    return [(agent, tasks.get(agent.pk)) for agent in agents]


def agents_by_id() -> QuerySet[Agent]:
    return Agent.objects.order_by("agent_id")


def agent_named(agent_id: str) -> Agent | None:
    return Agent.objects.filter(agent_id=agent_id).first()


def agent_rows() -> list[tuple[Agent, str | None]]:
    """Every agent with the task it holds: connected ones first, then by id."""
    agents = list(agents_by_id())
    held = current_task_ids([a.pk for a in agents])
    rows = [(agent, held.get(agent.pk)) for agent in agents]
    rows.sort(key=lambda row: (row[0].state == AgentState.OFFLINE, row[0].agent_id))
    return rows


def live_tokens(agent: Agent) -> QuerySet:
    return agent.tokens.live().order_by("-created_at")
