"""Channel routes (PROTOCOL.md §4.2, §4.3). Names in answers are echoed as sent."""

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from agentcom_site.core.auth import Principal, require_agent
from agentcom_site.core.limits import COUNTER_MAX
from agentcom_site.core.validation import check_agent_id
from messaging import topics, wire
from messaging.schemas import DEFAULT_MESSAGE_TYPE, ChannelIn, PublishIn

router = Router(tags=["channels"])


@router.get("/channels", response=dict, summary="All channels")
def list_channels(request: HttpRequest):
    return {"channels": [wire.channel_item(c) for c in topics.with_counts()]}


@router.post("/channels", response={201: dict}, summary="Create a channel")
def create_channel(request: HttpRequest, body: ChannelIn):
    principal: Principal = request.auth
    topics.create_channel(
        name=body.name, description=body.description or "", created_by=principal.actor
    )
    return Status(201, {"status": "created", "channel": body.name})


@router.get("/channels/{channel}", response=dict, summary="One channel and its subscribers")
def channel_detail(request: HttpRequest, channel: str):
    found = topics.get_channel(channel)
    return wire.channel_detail(found, topics.subscriber_ids(found))


@router.post("/channels/{channel}/subscribe", response=dict, summary="Subscribe")
def subscribe(request: HttpRequest, channel: str):
    principal = require_agent(request)
    done = topics.subscribe(name=channel, agent=principal.agent)
    return {"status": "subscribed" if done.created else "already_subscribed", "channel": channel}


@router.post("/channels/{channel}/unsubscribe", response=dict, summary="Unsubscribe")
def unsubscribe(request: HttpRequest, channel: str):
    principal = require_agent(request)
    topics.unsubscribe(name=channel, agent=principal.agent)
    return {"status": "unsubscribed", "channel": channel}


@router.post("/channels/{channel}/publish", response=dict, summary="Publish on a channel")
def publish(request: HttpRequest, channel: str, body: PublishIn):
    principal = require_agent(request)
    message = topics.publish(
        name=channel,
        sender=principal.name,
        payload=body.payload,
        message_type=body.type or DEFAULT_MESSAGE_TYPE,
        reply_to=body.reply_to,
    )
    return {"status": "published", "seq": message.channel_seq, "id": message.id}


class ChannelHistoryQuery(Schema):
    limit: int = Field(50, ge=1, le=200)
    since: int = Field(0, ge=0, le=COUNTER_MAX)


@router.get("/channels/{channel}/history", response=dict, summary="A channel's last messages")
def history(request: HttpRequest, channel: str, query: Query[ChannelHistoryQuery]):
    messages = topics.history(channel, limit=query.limit, since=query.since)
    entries = [wire.channel_history_entry(m) for m in messages]
    return {"channel": channel, "messages": entries, "count": len(entries)}


@router.get("/agents/{agent_id}/subscriptions", response=dict, summary="An agent's channels")
def subscriptions(request: HttpRequest, agent_id: str):
    check_agent_id(agent_id)
    return {"agent_id": agent_id, "channels": topics.subscriptions_of(agent_id)}
