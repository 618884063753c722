"""Read-side queries over the message history (PROTOCOL.md §4.2) and the reads the
dashboard's conversation pages make: channels by last activity, a channel's history a
page at a time, and what operators and one agent said to each other."""

from datetime import UTC, datetime, timedelta

from django.db.models import Count, F, Max, Q, QuerySet

from agentcom_site.core.auth import OPERATOR_PREFIX
from messaging.models import HISTORY_KINDS, Channel, Message, MessageKind, Subscription

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _at(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)  # exact, unlike float seconds


def readable_by(messages: QuerySet[Message], reader: str | None) -> QuerySet[Message]:
    """The messages an agent may read: direct messages it sent or received, broadcasts,
    and the messages of channels it is subscribed to. `reader` None is an operator,
    who reads everything."""
    if reader is None:
        return messages
    subscribed = Subscription.objects.filter(agent__agent_id=reader).values("channel_id")
    return messages.filter(
        Q(kind=MessageKind.BROADCAST)
        | Q(sender=reader)
        | Q(kind=MessageKind.DIRECT, recipient=reader)
        | Q(kind=MessageKind.CHANNEL, channel_id__in=subscribed)
    )


def message_history(
    *,
    reader: str | None,
    sender: str | None = None,
    to: str | None = None,
    channel: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    cursor: int = 0,
    limit: int = 50,
) -> list[Message]:
    """Direct and broadcast messages after `cursor` (exclusive), oldest first.

    `channel` matches `payload.channel`; the time window is inclusive at both ends.
    Channel publishes are not part of this history. An agent `reader` sees only what
    it may read (`readable_by`).
    """
    messages = readable_by(Message.objects.filter(kind__in=HISTORY_KINDS, seq__gt=cursor), reader)
    if sender is not None:
        messages = messages.filter(sender=sender)
    if to is not None:
        messages = messages.filter(recipient=to)
    if channel is not None:
        messages = messages.filter(payload__channel=channel)
    if start_ms is not None:
        messages = messages.filter(created_at__gte=_at(start_ms))
    if end_ms is not None:
        # Stored times carry microseconds: everything within the end millisecond counts.
        messages = messages.filter(created_at__lt=_at(end_ms + 1))
    return list(messages.order_by("seq")[:limit])


def channels_by_activity(limit: int) -> list[Channel]:
    """At most `limit` channels, the most recently active first, each with
    `subscriber_count` and `last_message_at` (None before the first message)."""
    channels = Channel.objects.annotate(
        subscriber_count=Count("subscriptions", distinct=True),
        last_message_at=Max("messages__created_at"),
    ).order_by(F("last_message_at").desc(nulls_last=True), "name")
    return list(channels[:limit])


def channel_page(channel: Channel, *, before: int | None, limit: int) -> list[Message]:
    """The `limit` messages of `channel` just below channel seq `before` (the newest
    when None), oldest first."""
    messages = Message.objects.filter(channel=channel).select_related("channel")
    if before is not None:
        messages = messages.filter(channel_seq__lt=before)
    return list(reversed(messages.order_by("-channel_seq")[:limit]))


def conversation_with(agent_id: str, *, limit: int) -> list[Message]:
    """The last `limit` messages between operators and one agent, oldest first: what
    operators sent it directly, what it sent to operators, and what it said in the
    threads operators' messages began."""
    from_operators = Message.objects.filter(
        kind=MessageKind.DIRECT, recipient=agent_id, sender__startswith=OPERATOR_PREFIX
    )
    to_operators = Message.objects.filter(
        kind=MessageKind.DIRECT, sender=agent_id, recipient__startswith=OPERATOR_PREFIX
    )
    replies = Message.objects.filter(
        sender=agent_id, thread_root__in=from_operators.values("thread_root")
    )
    both = from_operators | to_operators | replies
    newest = both.select_related("channel").order_by("-seq")[:limit]
    return list(reversed(newest))
