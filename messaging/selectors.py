"""Read-side queries over the global message history (PROTOCOL.md §4.2)."""

from datetime import UTC, datetime, timedelta

from django.db.models import Q, QuerySet

from messaging.models import HISTORY_KINDS, Message, MessageKind, Subscription

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
