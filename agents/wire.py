"""Agent shapes on the wire (PROTOCOL.md §2.3, §4.2)."""

from typing import Any

from agentcom_site.core.clock import to_ms
from agents.models import Agent


def presence(agent: Agent) -> dict[str, Any]:
    """`<agent>` in presence frames and `GET /api/agents`."""
    return {
        "agent_id": agent.agent_id,
        "name": agent.name or agent.agent_id,
        "status": agent.status_text,
        "capabilities": list(agent.capabilities),
        "connected_at": to_ms(agent.connected_at),
        "fsm_state": agent.state,
    }


def state_view(agent: Agent, current_task_id: str | None) -> dict[str, Any]:
    """An agent in `GET /api/agents/states` and `/api/agents/:id/state`."""
    return {
        "agent_id": agent.agent_id,
        "name": agent.name or agent.agent_id,
        "fsm_state": agent.state,
        "current_task_id": current_task_id,
        "capabilities": [{"name": name} for name in agent.capabilities],
        "flags": agent.flags,
        "connected_at": to_ms(agent.connected_at),
        "last_seen": to_ms(agent.last_seen),
        "last_state_change": to_ms(agent.last_state_change),
    }
