"""Messaging frames on the agent socket (PROTOCOL.md §2.3, §2.4).

Each handler validates its frame, calls one messaging operation and answers. Replies
echo channel names as sent; pushes use normalised names.
"""

from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from agentcom_site.core.errors import HubError
from agentcom_site.core.pages import within_budget
from agentcom_site.core.validation import validate
from messaging import routing, topics, wire
from messaging.schemas import (
    DEFAULT_MESSAGE_TYPE,
    ChannelFrame,
    HistoryFrame,
    MessageFrame,
    PublishFrame,
)


async def message(consumer: Any, raw: dict[str, Any]) -> None:
    frame = validate(MessageFrame, raw, message_type="message")
    sent = await database_sync_to_async(routing.send_message)(
        sender=consumer.agent.agent_id,
        to=frame.to,
        payload=frame.payload or {},
        message_type=frame.message_type or DEFAULT_MESSAGE_TYPE,
        reply_to=frame.reply_to,
    )
    await consumer.send_frame({"type": "message_sent", "id": sent.id})


def _channel(raw: dict[str, Any], schema: type, message_type: str):
    frame = validate(schema, raw, message_type=message_type)
    topics.valid_name(frame.channel, message_type=message_type)
    return frame


async def channel_subscribe(consumer: Any, raw: dict[str, Any]) -> None:
    frame = _channel(raw, ChannelFrame, "channel_subscribe")
    done = await database_sync_to_async(topics.subscribe)(name=frame.channel, agent=consumer.agent)
    # The service joins the socket recorded on the agent row; this one is that socket,
    # and joining again is harmless, so the reply never races the group change.
    await consumer.channel_layer.group_add(
        topics.group_name(done.channel.name), consumer.channel_name
    )
    reply = {"type": "channel_subscribed", "channel": frame.channel}
    if not done.created:
        reply["note"] = "already_subscribed"
    await consumer.send_frame(reply)


async def channel_unsubscribe(consumer: Any, raw: dict[str, Any]) -> None:
    frame = _channel(raw, ChannelFrame, "channel_unsubscribe")
    channel = await database_sync_to_async(topics.unsubscribe)(
        name=frame.channel, agent=consumer.agent
    )
    await consumer.channel_layer.group_discard(
        topics.group_name(channel.name), consumer.channel_name
    )
    await consumer.send_frame({"type": "channel_unsubscribed", "channel": frame.channel})


async def channel_publish(consumer: Any, raw: dict[str, Any]) -> None:
    frame = _channel(raw, PublishFrame, "channel_publish")
    published = await database_sync_to_async(topics.publish)(
        name=frame.channel,
        sender=consumer.agent.agent_id,
        payload=frame.payload,
        message_type=frame.message_type or DEFAULT_MESSAGE_TYPE,
        reply_to=frame.reply_to,
    )
    await consumer.send_frame(
        {
            "type": "channel_published",
            "channel": frame.channel,
            "seq": published.channel_seq,
            "id": published.id,
        }
    )


@database_sync_to_async
def _history(name: str, limit: int, since: int) -> list[dict[str, Any]]:
    try:
        messages = topics.history(name, limit=limit, since=since)
    except HubError:
        return []  # an unknown channel has an empty history over the socket (§2.3)
    # One frame: its messages' payloads stay within the frame limit (at least one is sent).
    budget = settings.AGENTCOM_MAX_FRAME_BYTES
    page, _ = within_budget(messages, lambda message: message.payload, budget)
    return [wire.channel_history_entry(m) for m in page]


async def channel_history(consumer: Any, raw: dict[str, Any]) -> None:
    frame = _channel(raw, HistoryFrame, "channel_history")
    limit = frame.limit if frame.limit is not None else 50
    messages = await _history(frame.channel, limit, frame.since or 0)
    await consumer.send_frame(
        {"type": "channel_history", "channel": frame.channel, "messages": messages}
    )


@database_sync_to_async
def _channel_items() -> list[dict[str, Any]]:
    return [wire.channel_item(c) for c in topics.with_counts()]


async def list_channels(consumer: Any, raw: dict[str, Any]) -> None:
    await consumer.send_frame({"type": "channels", "channels": await _channel_items()})


HANDLERS = {
    "message": message,
    "channel_subscribe": channel_subscribe,
    "channel_unsubscribe": channel_unsubscribe,
    "channel_publish": channel_publish,
    "channel_history": channel_history,
    "list_channels": list_channels,
}


async def on_identified(consumer: Any) -> None:
    """Join the groups of the agent's persisted subscriptions (§2.2 step 4). Group
    membership is a set, so identifying again on the same socket adds nothing."""
    groups = await database_sync_to_async(topics.groups_of)(consumer.agent.pk)
    for group in groups:
        await consumer.channel_layer.group_add(group, consumer.channel_name)


async def on_disconnected(consumer: Any) -> None:
    """Leave every channel group: the subscriptions persist, the socket does not."""
    groups = await database_sync_to_async(topics.groups_of)(consumer.agent.pk)
    for group in groups:
        await consumer.channel_layer.group_discard(group, consumer.channel_name)
