"""Who may call a messaging route (PROTOCOL.md §4.1 auth column)."""

from django.http import HttpRequest

from agentcom_site.errors import forbidden
from agents.tokens import Principal


def require_agent(request: HttpRequest) -> Principal:
    """*agent*: the caller acts as an agent, so it needs an agent token."""
    principal: Principal = request.auth
    if principal.kind != "agent":
        raise forbidden("this route is for agents: send an agent token")
    return principal


def require_self(request: HttpRequest, agent_id: str) -> Principal:
    """*self*: the agent named in the path, or an operator."""
    principal: Principal = request.auth
    if not principal.is_operator and principal.name != agent_id:
        raise forbidden("only the mailbox owner or an operator may use this mailbox")
    return principal
