"""Input schemas for messaging frames and bodies (PROTOCOL.md §1, §2.3, §4.2-§4.4).

Optional fields may be omitted or null; payloads must be JSON objects.
"""

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from agentcom_site.core.validation import LIMITS, Strict, text

AgentId = text("agent_id", min_length=1)
ChannelName = text("channel", min_length=1)
MessageType = text("message_type", min_length=1)
# reply_to shares the task_id limit (PROTOCOL.md §1: "task_id/reply_to 128").
ReplyTo = Annotated[str, StringConstraints(min_length=1, max_length=LIMITS["task_id"])]
Payload = dict[str, Any]
Seq = Annotated[int, Field(ge=0)]


# --- WebSocket frames ------------------------------------------------------------------


class MessageFrame(Strict):
    to: AgentId | None = None  # type: ignore[valid-type]
    message_type: MessageType | None = None  # type: ignore[valid-type]
    payload: Payload | None = None
    reply_to: ReplyTo | None = None


class ChannelFrame(Strict):
    channel: ChannelName  # type: ignore[valid-type]


class PublishFrame(Strict):
    channel: ChannelName  # type: ignore[valid-type]
    payload: Payload
    message_type: MessageType | None = None  # type: ignore[valid-type]
    reply_to: ReplyTo | None = None


class HistoryFrame(Strict):
    channel: ChannelName  # type: ignore[valid-type]
    limit: Annotated[int, Field(ge=1, le=200)] | None = None
    since: Seq | None = None


# --- HTTP bodies -----------------------------------------------------------------------


class MessageIn(Strict):
    payload: Payload
    to: AgentId | None = None  # type: ignore[valid-type]
    type: MessageType | None = None  # type: ignore[valid-type]
    reply_to: ReplyTo | None = None


class PublishIn(Strict):
    payload: Payload
    type: MessageType | None = None  # type: ignore[valid-type]
    reply_to: ReplyTo | None = None


class ChannelIn(Strict):
    name: ChannelName  # type: ignore[valid-type]
    description: text("description") | None = None  # type: ignore[valid-type]


class AckIn(Strict):
    seq: Seq


class HeartbeatIn(Strict):
    heartbeat_interval_ms: Annotated[int, Field(ge=1, le=7 * 24 * 3600 * 1000)]


class RetentionIn(Strict):
    mailbox_ttl_ms: Annotated[int, Field(ge=1, le=365 * 24 * 3600 * 1000)]


class DefaultRepoIn(Strict):
    url: Annotated[str, StringConstraints(max_length=2_000)] | None


DEFAULT_MESSAGE_TYPE = "chat"
