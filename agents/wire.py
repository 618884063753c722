"""Agent shapes on the wire (PROTOCOL.md §2.3, §4.2), each with the schema describing it."""

from typing import Any

from agentcom_site.core.clock import to_ms
from agentcom_site.core.schemas import Out
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


class PresenceOut(Out):
    agent_id: str
    name: str
    status: str
    capabilities: list[str]
    connected_at: int | None
    fsm_state: str


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


class CapabilityOut(Out):
    name: str


class AgentStateOut(Out):
    agent_id: str
    name: str
    fsm_state: str
    current_task_id: str | None
    capabilities: list[CapabilityOut]
    flags: list[str]
    connected_at: int | None
    last_seen: int | None
    last_state_change: int
