"""Messages, mailboxes, channels, traffic figures and the live messaging settings.

Recipients and senders are kept as agent id strings, not foreign keys: a direct message
may go to an agent that does not exist yet (PROTOCOL.md §4.6), and history must outlive
the agents it mentions. An absent `recipient` or `reply_to` is stored as "" and is
null on the wire.
"""

import secrets

from django.db import models
from django.db.models import Q

from agentcom_site.core.clock import now
from agentcom_site.core.storedjson import StoredJSONField


def new_message_id() -> str:
    """16 lowercase hex digits (PROTOCOL.md §1)."""
    return secrets.token_hex(8)


class MessageKind(models.TextChoices):
    DIRECT = "direct"
    BROADCAST = "broadcast"
    CHANNEL = "channel"


# Direct and broadcast messages form the global history (`GET /api/messages`).
HISTORY_KINDS = (MessageKind.DIRECT, MessageKind.BROADCAST)


class Channel(models.Model):
    name = models.CharField(max_length=64, unique=True)  # normalised (topics.normalise)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=now)
    created_by = models.CharField(max_length=160, blank=True, default="")
    # The channel's own sequence: the last `channel_seq` handed out (starts at 1).
    last_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"#{self.name}"


class Message(models.Model):
    """One routed message: direct, broadcast or published on a channel.

    `seq` is the global, increasing history cursor; `id` is the public identifier.
    """

    seq = models.BigAutoField(primary_key=True)
    id = models.CharField(max_length=16, unique=True, default=new_message_id, editable=False)
    kind = models.CharField(max_length=16, choices=MessageKind.choices)
    sender = models.CharField(max_length=160, db_index=True)
    recipient = models.CharField(max_length=128, blank=True, default="", db_index=True)
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    channel_seq = models.PositiveBigIntegerField(null=True, blank=True)
    message_type = models.CharField(max_length=64, default="chat")
    payload = StoredJSONField(default=dict, blank=True)
    reply_to = models.CharField(max_length=128, blank=True, default="", db_index=True)
    # The id of the message that started this thread (itself when it started one).
    thread_root = models.CharField(max_length=16, db_index=True)
    created_at = models.DateTimeField(default=now, db_index=True)

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "channel_seq"],
                condition=Q(channel__isnull=False),
                name="message_unique_channel_seq",
            )
        ]
        indexes = [models.Index(fields=["kind", "seq"], name="message_kind_seq")]

    def __str__(self) -> str:
        return f"{self.id} {self.sender} -> {self.recipient or self.kind}"


class Mailbox(models.Model):
    """One row per mailbox owner, locked while entries are added.

    Entries get their `seq` from the table's sequence; locking the owner's row first
    makes them commit in seq order, so a poller that moved its cursor past N never
    later sees an entry below N appear.
    """

    owner = models.CharField(max_length=128, unique=True)

    def __str__(self) -> str:
        return self.owner


class MailboxLetter(models.Model):
    """A message as mailboxes deliver it, stored once however many mailboxes hold it.

    A broadcast to N offline agents is one letter and N small entries, not N copies
    of the payload. A copy of its own, not the `Message` row: history is pruned and
    channels keep 200 messages, but a mailbox keeps what it holds until acked,
    trimmed or expired. A letter no entry refers to any more is deleted with the
    entries that held it (messaging.mailbox).
    """

    message_id = models.CharField(max_length=16)
    sender = models.CharField(max_length=160)
    recipient = models.CharField(max_length=128, blank=True, default="")
    message_type = models.CharField(max_length=64)
    payload = StoredJSONField(default=dict, blank=True)
    reply_to = models.CharField(max_length=128, blank=True, default="")
    sent_at = models.DateTimeField()
    # Entries of one letter are stored together, so the TTL is the letter's.
    stored_at = models.DateTimeField(default=now, db_index=True)
    size = models.PositiveIntegerField(default=0)  # payload bytes, for the mailbox budget

    def __str__(self) -> str:
        return f"letter {self.message_id}"


class MailboxEntry(models.Model):
    """A letter waiting in one agent's mailbox."""

    seq = models.BigAutoField(primary_key=True)  # global and increasing (PROTOCOL.md §1)
    owner = models.CharField(max_length=128)
    letter = models.ForeignKey(MailboxLetter, on_delete=models.CASCADE, related_name="entries")

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["owner", "seq"], name="mailbox_owner_seq")]
        verbose_name_plural = "mailbox entries"

    def __str__(self) -> str:
        return f"{self.owner} #{self.seq}"


class Subscription(models.Model):
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="subscriptions")
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.CASCADE, related_name="channel_subscriptions"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "agent"], name="subscription_unique")
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} on {self.channel_id}"


class HourlyTraffic(models.Model):
    """Messages an agent sent and received in one clock hour (UTC)."""

    agent_id = models.CharField(max_length=160)
    bucket = models.DateTimeField()  # the start of the hour
    sent = models.PositiveIntegerField(default=0)
    received = models.PositiveIntegerField(default=0)
    last_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent_id", "bucket"], name="traffic_agent_bucket")
        ]
        indexes = [models.Index(fields=["bucket"], name="traffic_bucket")]
        verbose_name_plural = "hourly traffic"

    def __str__(self) -> str:
        return f"{self.agent_id} @ {self.bucket:%Y-%m-%d %H:00}"


class ConnectionSession(models.Model):
    """One stretch of an agent being connected (identify to disconnect)."""

    agent_id = models.CharField(max_length=128, db_index=True)
    started_at = models.DateTimeField(default=now)
    ended_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["started_at"]

    def __str__(self) -> str:
        return f"{self.agent_id} from {self.started_at:%Y-%m-%d %H:%M}"


class ConfigValue(models.Model):
    """A setting an operator changes at run time (`PUT /api/config/...`)."""

    key = models.CharField(max_length=64, primary_key=True)
    value = StoredJSONField(null=True, blank=True)
    updated_at = models.DateTimeField(default=now)
    updated_by = models.CharField(max_length=160, blank=True, default="")

    def __str__(self) -> str:
        return self.key
