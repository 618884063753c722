"""Read-side queries over agents."""

from django.db.models import QuerySet

from agents.models import Agent, AgentState
from tasks.models import HELD, Task


def connected_agents() -> QuerySet[Agent]:
    return Agent.objects.exclude(state=AgentState.OFFLINE)


def current_task_ids(agent_pks: list[int]) -> dict[int, str]:
    """The task each agent holds (assigned or working), keyed by agent pk."""
    rows = Task.objects.filter(status__in=HELD, holder_id__in=agent_pks).values_list(
        "holder_id", "id"
    )
    return dict(rows)


def agents_with_work() -> list[tuple[Agent, str | None]]:
    """Connected agents plus offline agents that still hold a task (PROTOCOL.md §4.2)."""
    holders = Task.objects.filter(status__in=HELD).values("holder_id")
    agents = list(
        Agent.objects.exclude(state=AgentState.OFFLINE) | Agent.objects.filter(pk__in=holders)
    )
    tasks = current_task_ids([a.pk for a in agents])
    return [(agent, tasks.get(agent.pk)) for agent in agents]
