"""Messaging shapes on the wire (PROTOCOL.md §2.3, §2.4, §4.2, §4.3, §4.6).

A message over HTTP is `{"id","from","to","type","payload","reply_to","timestamp"}`;
in a push frame `type` is the frame's, so the message's own type is `message_type`.
The HTTP shapes are each followed by the schema that describes them, for the API docs.
"""

from typing import Any

from pydantic import Field

from agentcom_site.core.clock import to_ms
from agentcom_site.core.schemas import Out
from messaging.models import Channel, MailboxEntry, Message


def message_view(message: Message) -> dict[str, Any]:
    view = {
        "id": message.id,
        "from": message.sender,
        "to": message.recipient or None,
        "type": message.message_type,
        "payload": message.payload,
        "reply_to": message.reply_to or None,
        "timestamp": to_ms(message.created_at),
    }
    if message.channel_id is not None:
        view["channel"] = message.channel.name
    return view


class _MessageFields(Out):
    id: str
    sender: str = Field(alias="from")
    to: str | None
    type: str
    payload: dict[str, Any]
    reply_to: str | None
    timestamp: int


class MessageOut(_MessageFields):
    """`message_view`; routes answering it leave unset keys out, as `channel` is unless
    the message was published on a channel."""

    channel: str | None = None


def history_item(message: Message) -> dict[str, Any]:
    """An item of `GET /api/messages`: the message plus its global `seq`."""
    return {**message_view(message), "seq": message.seq}


class HistoryItemOut(MessageOut):
    seq: int


def _push_fields(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "from": message.sender,
        "message_type": message.message_type,
        "payload": message.payload,
        "reply_to": message.reply_to or None,
        "timestamp": to_ms(message.created_at),
    }


def message_push(message: Message) -> dict[str, Any]:
    """The `message` push (§2.4)."""
    return {"type": "message", **_push_fields(message)}


def channel_push(message: Message, channel: str) -> dict[str, Any]:
    """The `channel_message` push: the normalised channel plus the message fields."""
    return {"type": "channel_message", "channel": channel, **_push_fields(message)}


def agent_joined_push(channel: str, agent_id: str) -> dict[str, Any]:
    """`channel_agent_joined`: another agent subscribed to a channel this one is on."""
    return {"type": "channel_agent_joined", "channel": channel, "agent_id": agent_id}


def channel_history_entry(message: Message) -> dict[str, Any]:
    """`{"seq","message","stored_at"}` of a channel's history; `seq` is the channel's.

    The stored message carries both `type` (HTTP) and `message_type` (frames), so a
    client written against either shape finds the message type.
    """
    inner = {**message_view(message), "message_type": message.message_type}
    return {"seq": message.channel_seq, "message": inner, "stored_at": to_ms(message.created_at)}


class StoredMessageOut(MessageOut):
    message_type: str


class ChannelHistoryEntryOut(Out):
    seq: int
    message: StoredMessageOut
    stored_at: int


def mailbox_entry(entry: MailboxEntry) -> dict[str, Any]:
    letter = entry.letter
    return {
        "id": letter.message_id,
        "from": letter.sender,
        "to": letter.recipient or None,
        "type": letter.message_type,
        "payload": letter.payload,
        "reply_to": letter.reply_to or None,
        "timestamp": to_ms(letter.sent_at),
        "seq": entry.seq,
    }


class MailboxEntryOut(_MessageFields):
    seq: int


def channel_item(channel: Channel) -> dict[str, Any]:
    """A channel in `GET /api/channels` and `list_channels` (needs `subscriber_count`)."""
    return {
        "name": channel.name,
        "description": channel.description,
        "subscriber_count": channel.subscriber_count,
        "created_at": to_ms(channel.created_at),
    }


class ChannelItemOut(Out):
    name: str
    description: str
    subscriber_count: int
    created_at: int


def channel_detail(channel: Channel, subscribers: list[str]) -> dict[str, Any]:
    return {
        "name": channel.name,
        "description": channel.description,
        "subscribers": subscribers,
        "subscriber_count": len(subscribers),
        "created_at": to_ms(channel.created_at),
        "created_by": channel.created_by,
    }


class ChannelDetailOut(Out):
    name: str
    description: str
    subscribers: list[str]
    subscriber_count: int
    created_at: int
    created_by: str
