"""`POST /api/onboard/register`: an agent registers itself with the join key (§4.4).

In the composition root because it joins two apps: the agent service creates the agent,
and the messaging config store names the default repository to clone.
"""

import hmac
import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Status

from agentcom_site.core import ratelimit
from agentcom_site.core.errors import HubError, forbidden
from agentcom_site.core.schemas import BODY_GUARD, Out, refusals
from agentcom_site.core.validation import AgentId, Capability, Strict, text, unique, validate
from agents import services
from messaging.config import default_repo

log = logging.getLogger(__name__)

router = Router(tags=["onboarding"])


class RegisterIn(Strict):
    agent_id: AgentId
    join_key: text("token") | None = None  # type: ignore[valid-type]
    capabilities: list[Capability] | None = None


class RegisteredOut(Out):
    """The clear token appears here only; the URLs follow the request's scheme and host."""

    agent_id: str
    token: str
    hub_ws_url: str
    hub_api_url: str
    default_repo: str | None


def check_join_key(offered: Any) -> None:
    expected = settings.AGENTCOM_JOIN_KEY
    if not expected:
        raise forbidden("self-registration is closed on this hub", code="registration_closed")
    # compare_digest takes the same time wherever the keys differ.
    if not isinstance(offered, str) or not hmac.compare_digest(offered.encode(), expected.encode()):
        raise forbidden("the join key is not valid", code="invalid_join_key")


def client_address(request: HttpRequest) -> str:
    """The caller's address as the server saw it: the principal of anonymous routes."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def hub_urls(request: HttpRequest) -> tuple[str, str]:
    """(hub_ws_url, hub_api_url): from AGENTCOM_PUBLIC_URL when it is set, because the
    request's Host header is the caller's to choose; else from the request."""
    api_url = settings.AGENTCOM_PUBLIC_URL or f"{request.scheme}://{request.get_host()}"
    scheme, rest = api_url.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws", api_url


def _guard_join_key(request: HttpRequest, offered: Any, agent_id: Any) -> None:
    """Check the key; wrong keys are counted per client address and logged (never the key)."""
    address = client_address(request)
    key = ratelimit.principal_key("addr", address)
    throttled = ratelimit.peek_blocked(key, ratelimit.JOIN_FAILURE)
    if throttled is not None:
        log.warning("registration refused: %s is throttled after wrong join keys", address)
        raise ratelimit.RateLimited(throttled)
    try:
        check_join_key(offered)
    except HubError as refusal:
        log.warning(
            "registration refused (%s) from %s for agent_id %r",
            refusal.code,
            address,
            agent_id if isinstance(agent_id, str) else None,
        )
        if refusal.code == "invalid_join_key":
            ratelimit.take(key, ratelimit.JOIN_FAILURE)
        raise
    ratelimit.charge(key, ratelimit.REGISTER)


@router.post(
    "/register",
    auth=None,
    response={201: RegisteredOut, **refusals(*BODY_GUARD, 403, 409, 422, 429)},
    summary="Register with the join key",
)
def register(request: HttpRequest):
    body = getattr(request, "parsed_json", None)
    offered = request.headers.get("X-Join-Key")
    if offered is None and isinstance(body, dict):
        offered = body.get("join_key")
    agent_id = body.get("agent_id") if isinstance(body, dict) else None
    _guard_join_key(request, offered, agent_id)  # before the body: strangers learn nothing
    data = validate(RegisterIn, body if body is not None else {})
    registration = services.register_agent(
        data.agent_id, capabilities=unique(data.capabilities or [])
    )
    hub_ws_url, hub_api_url = hub_urls(request)
    return Status(
        201,
        {
            "agent_id": registration.agent.agent_id,
            "token": registration.token,
            "hub_ws_url": hub_ws_url,
            "hub_api_url": hub_api_url,
            "default_repo": default_repo(),
        },
    )
