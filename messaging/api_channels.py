"""Channel routes (PROTOCOL.md §4.2, §4.3). Names in answers are echoed as sent."""

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from agentcom_site.core import ratelimit
from agentcom_site.core.auth import Principal, require_agent
from agentcom_site.core.limits import COUNTER_MAX
from agentcom_site.core.pages import within_budget
from agentcom_site.core.schemas import BODY_GUARD, refusals
from agentcom_site.core.validation import check_agent_id
from messaging import topics, wire
from messaging.responses import (
    ChannelCreatedOut,
    ChannelHistoryOut,
    ChannelsOut,
    PublishedOut,
    SubscribedOut,
    SubscriptionsOut,
    UnsubscribedOut,
)
from messaging.schemas import DEFAULT_MESSAGE_TYPE, ChannelIn, PublishIn
from messaging.wire import ChannelDetailOut

# by_alias: a stored message's `from` is a Python keyword, so the schema names it by alias.
router = Router(tags=["channels"], by_alias=True)


@router.get("/channels", response={200: ChannelsOut, **refusals(401)}, summary="All channels")
def list_channels(request: HttpRequest):
    return {"channels": [wire.channel_item(c) for c in topics.with_counts()]}


@router.post(
    "/channels",
    response={201: ChannelCreatedOut, **refusals(*BODY_GUARD, 401, 403, 409, 422)},
    summary="Create a channel",
)
def create_channel(request: HttpRequest, body: ChannelIn):
    principal: Principal = request.auth
    topics.create_channel(
        name=body.name, description=body.description or "", created_by=principal.actor
    )
    return Status(201, {"status": "created", "channel": body.name})


@router.get(
    "/channels/{channel}",
    response={200: ChannelDetailOut, **refusals(401, 404, 422)},
    summary="One channel and its subscribers",
)
def channel_detail(request: HttpRequest, channel: str):
    found = topics.get_channel(channel)
    return wire.channel_detail(found, topics.subscriber_ids(found))


@router.post(
    "/channels/{channel}/subscribe",
    response={200: SubscribedOut, **refusals(*BODY_GUARD, 401, 403, 404, 422)},
    summary="Subscribe",
)
def subscribe(request: HttpRequest, channel: str):
    principal = require_agent(request)
    done = topics.subscribe(name=channel, agent=principal.agent)
    return {"status": "subscribed" if done.created else "already_subscribed", "channel": channel}


@router.post(
    "/channels/{channel}/unsubscribe",
    response={200: UnsubscribedOut, **refusals(*BODY_GUARD, 401, 403, 404, 422)},
    summary="Unsubscribe",
)
def unsubscribe(request: HttpRequest, channel: str):
    principal = require_agent(request)
    topics.unsubscribe(name=channel, agent=principal.agent)
    return {"status": "unsubscribed", "channel": channel}


@router.post(
    "/channels/{channel}/publish",
    response={200: PublishedOut, **refusals(*BODY_GUARD, 401, 403, 404, 422)},
    summary="Publish on a channel",
)
def publish(request: HttpRequest, channel: str, body: PublishIn):
    principal: Principal = request.auth  # an agent, or an operator as `operator:<name>`
    principal.charge(ratelimit.PUBLISH)
    message = topics.publish(
        name=channel,
        sender=principal.actor,
        payload=body.payload,
        message_type=body.type or DEFAULT_MESSAGE_TYPE,
        reply_to=body.reply_to,
    )
    return {"status": "published", "seq": message.channel_seq, "id": message.id}


class ChannelHistoryQuery(Schema):
    limit: int = Field(50, ge=1, le=200)
    since: int = Field(0, ge=0, le=COUNTER_MAX)


@router.get(
    "/channels/{channel}/history",
    response={200: ChannelHistoryOut, **refusals(401, 404, 422)},
    summary="A channel's last messages",
)
def history(request: HttpRequest, channel: str, query: Query[ChannelHistoryQuery]):
    messages = topics.history(channel, limit=query.limit, since=query.since)
    page, more = within_budget(messages, lambda message: message.payload)
    entries = [wire.channel_history_entry(m) for m in page]
    return {"channel": channel, "messages": entries, "count": len(entries), "more": more}


@router.get(
    "/agents/{agent_id}/subscriptions",
    response={200: SubscriptionsOut, **refusals(401, 422)},
    summary="An agent's channels",
)
def subscriptions(request: HttpRequest, agent_id: str):
    check_agent_id(agent_id)
    return {"agent_id": agent_id, "channels": topics.subscriptions_of(agent_id)}
