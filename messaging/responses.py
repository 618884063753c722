"""Response bodies of the messaging, channel, config and analytics routes (§4.2-§4.4, §4.7).

Messages and channels themselves are described in `messaging.wire`, beside their builders.
"""

from typing import Literal

from agentcom_site.core.schemas import Out
from messaging.wire import (
    ChannelHistoryEntryOut,
    ChannelItemOut,
    HistoryItemOut,
    MailboxEntryOut,
    MessageOut,
)

# --- messages, mailboxes, threads ----------------------------------------------------------


class MessageSentOut(Out):
    status: Literal["sent"]
    id: str


class EvictionOut(Out):
    status: Literal["eviction_triggered"]


class MailboxOut(Out):
    """`last_seq` is the last seq returned, else `since`."""

    agent_id: str
    messages: list[MailboxEntryOut]
    last_seq: int
    count: int
    more: bool


class AckedOut(Out):
    status: Literal["acked"]
    up_to: int


class MessageHistoryOut(Out):
    """`cursor` is the last item's seq, else the cursor asked for."""

    messages: list[HistoryItemOut]
    cursor: int
    count: int
    more: bool


class ThreadOut(Out):
    root: str
    messages: list[MessageOut]
    count: int
    more: bool


class RepliesOut(Out):
    parent: str
    replies: list[MessageOut]
    count: int
    more: bool


class ThreadRootOut(Out):
    message_id: str
    root: str


# --- channels ------------------------------------------------------------------------------


class ChannelsOut(Out):
    channels: list[ChannelItemOut]


class ChannelCreatedOut(Out):
    status: Literal["created"]
    channel: str


class SubscribedOut(Out):
    status: Literal["subscribed", "already_subscribed"]
    channel: str


class UnsubscribedOut(Out):
    status: Literal["unsubscribed"]
    channel: str


class PublishedOut(Out):
    """`seq` is the channel's."""

    status: Literal["published"]
    seq: int
    id: str


class ChannelHistoryOut(Out):
    channel: str
    messages: list[ChannelHistoryEntryOut]
    count: int
    more: bool


class SubscriptionsOut(Out):
    agent_id: str
    channels: list[str]


# --- config --------------------------------------------------------------------------------


class DefaultRepoOut(Out):
    default_repo: str | None
    configured: bool


class DefaultRepoSetOut(Out):
    status: Literal["ok"]
    default_repo: str | None


class HeartbeatOut(Out):
    heartbeat_interval_ms: int


class HeartbeatSetOut(Out):
    status: Literal["updated"]
    heartbeat_interval_ms: int


class RetentionOut(Out):
    mailbox_ttl_ms: int


class RetentionSetOut(Out):
    status: Literal["updated"]
    mailbox_ttl_ms: int


# --- analytics -----------------------------------------------------------------------------


class AnalyticsSummaryOut(Out):
    total_agents: int
    agents_connected: int
    agents_active: int
    agents_idle: int
    agents_offline: int
    total_messages_24h: int
    timestamp: int


class AgentFiguresOut(Out):
    agent_id: str
    connected: bool
    idle_ms: int | None
    status: Literal["active", "idle", "offline"]
    messages_sent_24h: int
    messages_received_24h: int
    messages_sent_this_hour: int
    connection_time_24h_ms: int
    last_active: int | None
    last_seen: int | None
    total_connections: int


class AnalyticsAgentsOut(Out):
    agents: list[AgentFiguresOut]


class HourlyBucketOut(Out):
    bucket: int
    hour: str
    sent: int
    received: int


class HourlyOut(Out):
    """24 buckets, oldest first."""

    agent_id: str
    hourly: list[HourlyBucketOut]
