"""Agent lifecycle operations: presence, operator blocks, flags.

Like the task operations, each runs in one transaction and announces after commit.
"""

from django.db import transaction

from agentcom_site.core.events import announce
from agents.models import Agent, AgentState


def _locked(agent_pk: int) -> Agent:
    return Agent.objects.select_for_update().get(pk=agent_pk)


def block_agent(agent_pk: int, *, actor: str) -> Agent:
    """Operator: stop offering work to the agent (idle or working → blocked)."""
    with transaction.atomic():
        agent = _locked(agent_pk)
        agent.block()
        agent.save()
        announce("agent_state", agent_id=agent.agent_id, fsm_state=agent.state, actor=actor)
    return agent


def unblock_agent(agent_pk: int, *, actor: str) -> Agent:
    """Operator: lift a block; the agent returns to idle (and is offered work) or working."""
    with transaction.atomic():
        agent = _locked(agent_pk)
        agent.unblock()
        agent.save()
        announce("agent_state", agent_id=agent.agent_id, fsm_state=agent.state, actor=actor)
        if agent.state == AgentState.IDLE:
            announce("agent_idle", agent_id=agent.agent_id)
    return agent
