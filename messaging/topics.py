"""Channels: named topics with persisted subscriptions and their own numbered history.

Subscriptions live in the database and are mirrored onto the channel layer: each
subscribed socket is in the channel's group (`group_name`), so one `group_send`
reaches every live subscriber. Pushes and group changes happen only after commit
(`messaging.delivery`). See PROTOCOL.md §2.3, §2.4, §4.3.
"""

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet

from agentcom_site.core.auth import OPERATOR_PREFIX
from agentcom_site.core.clock import now
from agentcom_site.core.errors import conflict, invalid, not_found, too_many_channels
from agentcom_site.core.events import EventKind, announce
from agentcom_site.core.limits import CHANNEL_RE, LIMITS
from agents.models import Agent
from messaging import analytics, config, mailbox, threads, wire
from messaging.models import Channel, Message, MessageKind, Subscription

GROUP_PREFIX = "agentcom.ch."


def normalise(name: str) -> str:
    """Leading `#` removed, lowercased (§1); only for names that passed `valid_name`."""
    return name.lstrip("#").lower()


def group_name(normalised: str) -> str:
    """The channel-layer group of a channel: ASCII, well under 100 characters."""
    return GROUP_PREFIX + normalised


def valid_name(name: str, *, field: str = "channel", message_type: str | None = None) -> str:
    """The normalised name, or a validation error unless `name` has the channel shape
    (CHANNEL_PATTERN): a bad name is refused, never echoed back in a 404."""
    if not isinstance(name, str) or CHANNEL_RE.fullmatch(name) is None:
        raise invalid(
            field,
            "invalid_value",
            f"{field} must be 1-{LIMITS['channel']} ASCII letters, digits, '_' or '-', "
            "starting with a letter or digit, after an optional #",
            message_type=message_type,
        )
    return normalise(name)


def get_channel(name: str) -> Channel:
    """The channel called `name` (as sent); 404 `channel_not_found` if there is none."""
    channel = Channel.objects.filter(name=valid_name(name)).first()
    if channel is None:
        raise not_found("channel_not_found", f"no channel {name}", channel=name)
    return channel


def with_counts() -> QuerySet[Channel]:
    return Channel.objects.annotate(subscriber_count=Count("subscriptions")).order_by("name")


# --- writes --------------------------------------------------------------------------------


def create_channel(*, name: str, description: str, created_by: str) -> Channel:
    """Create a channel; 409 `channel_exists` when the normalised name is taken, 409
    `too_many_channels` when an agent already created `channels_per_creator()` of them
    (operators have no cap)."""
    normalised = valid_name(name, field="name")
    try:
        with transaction.atomic():
            if Channel.objects.filter(name=normalised).exists():
                raise conflict("channel_exists", f"channel {normalised} already exists")
            cap = config.channels_per_creator()
            capped = not created_by.startswith(OPERATOR_PREFIX)
            if capped and Channel.objects.filter(created_by=created_by).count() >= cap:
                raise too_many_channels(created_by, cap)
            return Channel.objects.create(
                name=normalised, description=description, created_by=created_by
            )
    except IntegrityError:  # created concurrently by another process
        raise conflict("channel_exists", f"channel {normalised} already exists") from None


def _socket_of(agent: Agent) -> str:
    """The agent's live socket as committed now (the caller's copy may be stale)."""
    return Agent.objects.filter(pk=agent.pk).values_list("channel_name", flat=True).first() or ""


@dataclass(frozen=True)
class Subscribed:
    channel: Channel
    created: bool


def subscribe(*, name: str, agent: Agent) -> Subscribed:
    """Persist the subscription. After commit the agent's live socket joins the channel's
    group and, if it is new, the other subscribers get `channel_agent_joined`."""
    with transaction.atomic():
        channel = get_channel(name)
        _, created = Subscription.objects.get_or_create(channel=channel, agent_id=agent.pk)
        joined = wire.agent_joined_push(channel.name, agent.agent_id)
        announce(
            EventKind.CHANNEL_SUBSCRIBED,
            agent_id=agent.agent_id,
            group=group_name(channel.name),
            socket=_socket_of(agent),
            frame=joined if created else None,
        )
    return Subscribed(channel, created)


def unsubscribe(*, name: str, agent: Agent) -> Channel:
    """Remove the subscription (if any); after commit the live socket leaves the group."""
    with transaction.atomic():
        channel = get_channel(name)
        Subscription.objects.filter(channel=channel, agent_id=agent.pk).delete()
        announce(
            EventKind.CHANNEL_UNSUBSCRIBED,
            agent_id=agent.agent_id,
            group=group_name(channel.name),
            socket=_socket_of(agent),
        )
    return channel


def publish(
    *,
    name: str,
    sender: str,
    payload: dict[str, Any],
    message_type: str = "chat",
    reply_to: str | None = None,
) -> Message:
    """Store a channel message under the channel's next seq, keep the last 200, copy it
    to the mailbox of every offline subscriber (with `payload.channel`), count the
    traffic; after commit push `channel_message` to the other live subscribers."""
    with transaction.atomic():
        channel = Channel.objects.select_for_update().filter(name=valid_name(name)).first()
        if channel is None:
            raise not_found("channel_not_found", f"no channel {name}", channel=name)
        channel.last_seq += 1
        channel.save(update_fields=["last_seq"])
        message = Message(
            kind=MessageKind.CHANNEL,
            sender=sender,
            channel=channel,
            channel_seq=channel.last_seq,
            message_type=message_type,
            payload=payload,
            reply_to=reply_to or "",
            created_at=now(),
        )
        message.thread_root = threads.root_for_new(message.id, reply_to)
        message.save()
        keep_from = channel.last_seq - config.CHANNEL_HISTORY_KEEP
        if keep_from > 0:
            Message.objects.filter(channel=channel, channel_seq__lte=keep_from).delete()

        subscribers = list(
            Subscription.objects.filter(channel=channel)
            .exclude(agent__agent_id=sender)
            .values_list("agent__agent_id", "agent__channel_name")
        )
        copy = {**payload, "channel": channel.name}
        offline = [agent_id for agent_id, socket in subscribers if not socket]
        mailbox.deposit(message, offline, payload=copy)
        analytics.record_traffic(
            sender=sender, recipients=[a for a, _ in subscribers], moment=message.created_at
        )
        announce(
            EventKind.CHANNEL_PUBLISHED,
            agent_id=sender,
            group=group_name(channel.name),
            frame=wire.channel_push(message, channel.name),
        )
    return message


# --- reads ---------------------------------------------------------------------------------


def history(name: str, *, limit: int = 50, since: int = 0) -> list[Message]:
    """The last `limit` messages after channel seq `since`, oldest first."""
    channel = get_channel(name)
    newest = (
        Message.objects.filter(channel=channel, channel_seq__gt=since)
        .select_related("channel")
        .order_by("-channel_seq")[:limit]
    )
    return list(reversed(newest))


def subscriber_ids(channel: Channel) -> list[str]:
    return list(
        channel.subscriptions.order_by("agent__agent_id").values_list("agent__agent_id", flat=True)
    )


def subscriptions_of(agent_id: str) -> list[str]:
    """Normalised names of the channels an agent is subscribed to."""
    return list(
        Subscription.objects.filter(agent__agent_id=agent_id)
        .order_by("channel__name")
        .values_list("channel__name", flat=True)
    )


def groups_of(agent_pk: int) -> list[str]:
    names = Subscription.objects.filter(agent_id=agent_pk).values_list("channel__name", flat=True)
    return [group_name(name) for name in names]
