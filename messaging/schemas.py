"""Input schemas for messaging frames and bodies (PROTOCOL.md §1, §2.3, §4.2-§4.4).

Optional fields may be omitted or null; payloads must be JSON objects.
"""

from typing import Annotated, Any, Self

from pydantic import Field, StringConstraints, model_validator

from agentcom_site.core.errors import invalid
from agentcom_site.core.limits import COUNTER_MAX, JSON_FIELD_BYTES
from agentcom_site.core.validation import (
    LIMITS,
    Recipient,
    Strict,
    json_size,
    stored_json,
    text,
)
from messaging.routing import BROADCAST

ChannelName = text("channel", min_length=1)
MessageType = text("message_type", min_length=1)
# reply_to shares the task_id limit (PROTOCOL.md §1: "task_id/reply_to 128").
ReplyTo = Annotated[str, StringConstraints(min_length=1, max_length=LIMITS["task_id"])]
Payload = stored_json("payload")
Seq = Annotated[int, Field(ge=0, le=COUNTER_MAX)]


def check_broadcast_payload(to: str | None, payload: dict[str, Any] | None) -> None:
    """A broadcast is copied to every agent, so its payload has the smaller cap."""
    cap = JSON_FIELD_BYTES["broadcast_payload"]
    if (to is None or to == BROADCAST) and payload and json_size(payload) > cap:
        # Raised past pydantic so the refusal names the field, not the whole body.
        raise invalid("payload", "too_large", f"a broadcast payload is over the {cap} byte limit")


# --- WebSocket frames ------------------------------------------------------------------


class MessageFrame(Strict):
    to: Recipient | None = None
    message_type: MessageType | None = None  # type: ignore[valid-type]
    payload: Payload | None = None  # type: ignore[valid-type]
    reply_to: ReplyTo | None = None

    @model_validator(mode="after")
    def _broadcast_cap(self) -> Self:
        check_broadcast_payload(self.to, self.payload)
        return self


class ChannelFrame(Strict):
    channel: ChannelName  # type: ignore[valid-type]


class PublishFrame(Strict):
    channel: ChannelName  # type: ignore[valid-type]
    payload: Payload  # type: ignore[valid-type]
    message_type: MessageType | None = None  # type: ignore[valid-type]
    reply_to: ReplyTo | None = None


class HistoryFrame(Strict):
    channel: ChannelName  # type: ignore[valid-type]
    limit: Annotated[int, Field(ge=1, le=200)] | None = None
    since: Seq | None = None


# --- HTTP bodies -----------------------------------------------------------------------


class MessageIn(Strict):
    payload: Payload  # type: ignore[valid-type]
    to: Recipient | None = None
    type: MessageType | None = None  # type: ignore[valid-type]
    reply_to: ReplyTo | None = None

    @model_validator(mode="after")
    def _broadcast_cap(self) -> Self:
        check_broadcast_payload(self.to, self.payload)
        return self


class PublishIn(Strict):
    payload: Payload  # type: ignore[valid-type]
    type: MessageType | None = None  # type: ignore[valid-type]
    reply_to: ReplyTo | None = None


class ChannelIn(Strict):
    name: ChannelName  # type: ignore[valid-type]
    description: text("channel_description") | None = None  # type: ignore[valid-type]


class AckIn(Strict):
    seq: Seq


class HeartbeatIn(Strict):
    heartbeat_interval_ms: Annotated[int, Field(ge=1, le=7 * 24 * 3600 * 1000)]


class RetentionIn(Strict):
    mailbox_ttl_ms: Annotated[int, Field(ge=1, le=365 * 24 * 3600 * 1000)]


class DefaultRepoIn(Strict):
    url: text("url") | None  # type: ignore[valid-type]


DEFAULT_MESSAGE_TYPE = "chat"
