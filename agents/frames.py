"""Agent frames: identify, status, list_agents (PROTOCOL.md §2.2, §2.3)."""

from typing import Annotated, Any

from channels.db import database_sync_to_async
from pydantic import Field, StringConstraints

from agentcom_site.core.errors import HubError, invalid_token
from agentcom_site.core.frames import run_identified_hooks
from agentcom_site.core.limits import FEATURE_PATTERN, FEATURES_MAX, LIMITS
from agentcom_site.core.transport import send_to_socket
from agentcom_site.core.validation import AgentId, Capability, Strict, text, unique, validate
from agents import presence
from agents.push import PRESENCE_GROUP, close_message
from agents.selectors import connected_agents
from agents.tokens import agent_token
from agents.wire import presence as presence_view

Feature = Annotated[
    str, StringConstraints(min_length=1, max_length=LIMITS["feature"], pattern=FEATURE_PATTERN)
]


class IdentifyFrame(Strict):
    agent_id: AgentId
    token: text("token", min_length=1)  # type: ignore[valid-type]
    name: text("name") | None = None  # type: ignore[valid-type]
    status: text("status") | None = None  # type: ignore[valid-type]
    capabilities: Annotated[list[Capability], Field(max_length=256)] | None = None
    presence: bool = True  # false: no agent_joined/agent_left/status_changed pushes
    # What the client understands beyond v1 (`input_required`); unknown ones are kept
    # and ignored, so a newer client needs no newer hub.
    features: Annotated[list[Feature], Field(max_length=FEATURES_MAX)] | None = None


class StatusFrame(Strict):
    status: text("status")  # type: ignore[valid-type]


@database_sync_to_async
def _check_token(agent_id: str, token: str):
    row = agent_token(token)
    if row is None:
        raise invalid_token()
    if row.agent.agent_id != agent_id:
        raise HubError("token_agent_mismatch", f"this token does not belong to {agent_id}")
    return row


async def identify(consumer: Any, raw: dict[str, Any]) -> None:
    frame = validate(IdentifyFrame, raw, message_type="identify")
    if consumer.agent is not None and consumer.agent.agent_id != frame.agent_id:
        raise HubError(
            "already_identified", f"this socket is already identified as {consumer.agent.agent_id}"
        )
    token = await _check_token(frame.agent_id, frame.token)
    # The token is checked again where the socket is bound: it may be revoked meanwhile.
    bound = await database_sync_to_async(presence.identify)(
        token.agent_id,
        token_pk=token.pk,
        channel_name=consumer.channel_name,
        name=frame.name or frame.agent_id,
        status=frame.status if frame.status is not None else "connected",
        capabilities=unique(frame.capabilities or []),
        features=unique(frame.features or []),
    )
    if bound.replaced_channel:
        await send_to_socket(bound.replaced_channel, close_message(4000, "replaced"))
    consumer.agent = bound.agent
    await _listen_to_presence(consumer, frame.presence)
    await run_identified_hooks(consumer)
    await consumer.send_frame({"type": "identified", "agent_id": bound.agent.agent_id})


async def _listen_to_presence(consumer: Any, wanted: bool) -> None:
    """Join or leave the presence group; identifying again may change the choice."""
    if wanted and not consumer.hears_presence:
        await consumer.channel_layer.group_add(PRESENCE_GROUP, consumer.channel_name)
    elif not wanted and consumer.hears_presence:
        await consumer.channel_layer.group_discard(PRESENCE_GROUP, consumer.channel_name)
    consumer.hears_presence = wanted


async def status(consumer: Any, raw: dict[str, Any]) -> None:
    frame = validate(StatusFrame, raw, message_type="status")
    agent = await database_sync_to_async(presence.update_status)(consumer.agent.pk, frame.status)
    consumer.agent = agent
    await consumer.send_frame({"type": "status_updated", "status": agent.status_text})


async def list_agents(consumer: Any, raw: dict[str, Any]) -> None:
    agents = await database_sync_to_async(lambda: [presence_view(a) for a in connected_agents()])()
    await consumer.send_frame({"type": "agents", "agents": agents})


HANDLERS = {"identify": identify, "status": status, "list_agents": list_agents}
