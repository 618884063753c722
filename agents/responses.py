"""Response bodies of the health, agent and token routes (PROTOCOL.md §4.2, §4.4)."""

from typing import Literal

from agentcom_site.core.schemas import Out
from agents.wire import AgentStateOut, PresenceOut


class DispatchHealthOut(Out):
    """Whether the scheduler hands out work (flow control, OPERATIONS.md)."""

    paused: bool
    paused_capabilities: list[str]


class HealthOut(Out):
    status: Literal["ok"]
    service: Literal["agent_com"]
    agents_connected: int
    dispatch: DispatchHealthOut | None = None


class HealthDownOut(Out):
    """503: the database did not answer."""

    status: Literal["unavailable"]
    service: Literal["agent_com"]
    error: Literal["database_down"]


class ListedAgentOut(PresenceOut):
    draining: bool


class AgentsOut(Out):
    agents: list[ListedAgentOut]


class AgentDrainOut(Out):
    agent_id: str
    draining: bool
    draining_since: int | None
    fsm_state: str


class AgentStatesOut(Out):
    agents: list[AgentStateOut]


class TokenIssuedOut(Out):
    """The clear token appears here and nowhere else, ever."""

    agent_id: str
    token: str
    token_prefix: str
    created_at: int


class TokenOut(Out):
    agent_id: str
    token_prefix: str
    created_at: int
    last_used_at: int | None


class TokensOut(Out):
    tokens: list[TokenOut]


class TokensRevokedOut(Out):
    status: Literal["revoked"]
    agent_id: str
    revoked: int
