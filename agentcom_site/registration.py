"""`POST /api/onboard/register`: an agent registers itself with the join key (§4.4).

In the composition root because it joins two apps: the agent service creates the agent,
and the messaging config store names the default repository to clone.
"""

import hmac
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Status

from agentcom_site.core.errors import forbidden
from agentcom_site.core.validation import AgentId, Capability, Strict, text, unique, validate
from agents import services
from messaging.config import default_repo

router = Router(tags=["onboarding"])


class RegisterIn(Strict):
    agent_id: AgentId
    join_key: text("token") | None = None  # type: ignore[valid-type]
    capabilities: list[Capability] | None = None


def check_join_key(offered: Any) -> None:
    expected = settings.AGENTCOM_JOIN_KEY
    if not expected:
        raise forbidden("self-registration is closed on this hub", code="registration_closed")
    # compare_digest takes the same time wherever the keys differ.
    if not isinstance(offered, str) or not hmac.compare_digest(offered.encode(), expected.encode()):
        raise forbidden("the join key is not valid", code="invalid_join_key")


@router.post("/register", auth=None, response={201: dict}, summary="Register with the join key")
def register(request: HttpRequest):
    body = getattr(request, "parsed_json", None)
    offered = request.headers.get("X-Join-Key")
    if offered is None and isinstance(body, dict):
        offered = body.get("join_key")
    check_join_key(offered)  # before looking at the body: strangers learn nothing more
    data = validate(RegisterIn, body if body is not None else {})
    registration = services.register_agent(
        data.agent_id, capabilities=unique(data.capabilities or [])
    )
    scheme = "wss" if request.is_secure() else "ws"
    host = request.get_host()
    return Status(
        201,
        {
            "agent_id": registration.agent.agent_id,
            "token": registration.token,
            "hub_ws_url": f"{scheme}://{host}/ws",
            "hub_api_url": f"{request.scheme}://{host}",
            "default_repo": default_repo(),
        },
    )
