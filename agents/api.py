"""Agent, token and health routes (PROTOCOL.md §4.2, §4.4)."""

from django.db import connection
from django.http import HttpRequest
from ninja import Router, Status

from agentcom_site.core import healthreport
from agentcom_site.core.auth import Principal, operator_auth, require_self
from agentcom_site.core.clock import to_ms
from agentcom_site.core.errors import not_found
from agentcom_site.core.schemas import BODY_GUARD, refusals
from agentcom_site.core.validation import AgentId, Strict, check_agent_id
from agents import services, tokens
from agents.models import Agent, AgentToken, ResourceReport
from agents.resources import AgentDetailOut, report_view
from agents.responses import (
    AgentDrainOut,
    AgentsOut,
    AgentStatesOut,
    HealthDownOut,
    HealthOut,
    TokenIssuedOut,
    TokensOut,
    TokensRevokedOut,
)
from agents.selectors import agents_with_work, connected_agents, current_task_ids
from agents.wire import presence, state_view

router = Router(tags=["agents"])
tokens_router = Router(tags=["tokens"])
health_router = Router(tags=["health"])


@health_router.get("", auth=None, response={200: HealthOut, 503: HealthDownOut}, summary="Liveness")
def health(request: HttpRequest):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        connected = connected_agents().count()
        extra = healthreport.sections()
    except Exception:
        return Status(
            503, {"status": "unavailable", "service": "agent_com", "error": "database_down"}
        )
    return {"status": "ok", "service": "agent_com", "agents_connected": connected, **extra}


@router.get("/agents", response={200: AgentsOut, **refusals(401)}, summary="Connected agents")
def list_agents(request: HttpRequest):
    return {
        "agents": [{**presence(agent), "draining": agent.draining} for agent in connected_agents()]
    }


def _drained(agent: Agent) -> dict:
    return {
        "agent_id": agent.agent_id,
        "draining": agent.draining,
        "draining_since": to_ms(agent.draining_since),
        "fsm_state": agent.state,
    }


@router.post(
    "/agents/{agent_id}/drain",
    auth=operator_auth,
    response={200: AgentDrainOut, **refusals(*BODY_GUARD, 401, 403, 404, 422)},
    summary="Drain an agent: it finishes what it holds and is offered nothing new",
)
def drain(request: HttpRequest, agent_id: str):
    check_agent_id(agent_id)
    principal: Principal = request.auth
    return _drained(services.set_draining(agent_id, draining=True, actor=principal.actor))


@router.post(
    "/agents/{agent_id}/undrain",
    auth=operator_auth,
    response={200: AgentDrainOut, **refusals(*BODY_GUARD, 401, 403, 404, 422)},
    summary="Lift an agent's drain: it is offered work again",
)
def undrain(request: HttpRequest, agent_id: str):
    check_agent_id(agent_id)
    principal: Principal = request.auth
    return _drained(services.set_draining(agent_id, draining=False, actor=principal.actor))


@router.get(
    "/agents/states",
    response={200: AgentStatesOut, **refusals(401)},
    summary="Connected agents and offline holders",
)
def agent_states(request: HttpRequest):
    return {"agents": [state_view(agent, task_id) for agent, task_id in agents_with_work()]}


@router.get(
    "/agents/{agent_id}/state",
    response={200: AgentDetailOut, **refusals(401, 404, 422)},
    summary="One agent's lifecycle state and its machine's latest resource report",
)
def agent_state(request: HttpRequest, agent_id: str):
    check_agent_id(agent_id)
    agent = Agent.objects.filter(agent_id=agent_id).first()
    if agent is None:
        raise not_found("agent_not_found", f"no agent {agent_id}", agent_id=agent_id)
    report = ResourceReport.objects.filter(agent=agent).first()
    return {
        **state_view(agent, current_task_ids([agent.pk]).get(agent.pk)),
        "resources": report_view(report),
    }


class TokenCreateIn(Strict):
    agent_id: AgentId


@tokens_router.post(
    "",
    auth=operator_auth,
    response={201: TokenIssuedOut, **refusals(*BODY_GUARD, 401, 403, 422)},
    summary="Issue an agent token (shown once)",
)
def create_token(request: HttpRequest, body: TokenCreateIn):
    agent, _ = services.ensure_agent(body.agent_id)
    row, token = tokens.issue_agent_token(agent)
    return Status(
        201,
        {
            "agent_id": agent.agent_id,
            "token": token,
            "token_prefix": row.display_prefix,
            "created_at": to_ms(row.created_at),
        },
    )


@tokens_router.get(
    "",
    auth=operator_auth,
    response={200: TokensOut, **refusals(401, 403)},
    summary="List live agent tokens (prefixes only)",
)
def list_tokens(request: HttpRequest):
    rows = AgentToken.objects.live().select_related("agent").order_by("created_at")
    return {
        "tokens": [
            {
                "agent_id": row.agent.agent_id,
                "token_prefix": row.display_prefix,
                "created_at": to_ms(row.created_at),
                "last_used_at": to_ms(row.last_used_at),
            }
            for row in rows
        ]
    }


@tokens_router.delete(
    "/{agent_id}",
    response={200: TokensRevokedOut, **refusals(*BODY_GUARD, 401, 403, 422)},
    summary="Revoke an agent's tokens",
)
def revoke_tokens(request: HttpRequest, agent_id: str):
    check_agent_id(agent_id)
    require_self(request, agent_id, refusal="an agent may only revoke its own tokens")
    revoked = tokens.revoke_agent_tokens(agent_id)
    return {"status": "revoked", "agent_id": agent_id, "revoked": revoked}
