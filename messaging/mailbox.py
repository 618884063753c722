"""Mailboxes: copies of messages for agents that could not take a push.

Entries carry a global, increasing `seq`. Polling never deletes; acknowledging a seq
deletes every entry up to it. A mailbox keeps at most `config.mailbox_cap()` entries,
dropping the oldest (PROTOCOL.md §4.2, §4.6).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count

from agentcom_site.core.clock import now
from messaging import config
from messaging.models import Mailbox, MailboxEntry, Message


@dataclass(frozen=True)
class Poll:
    entries: list[MailboxEntry]
    last_seq: int


def entry_for(message: Message, owner: str, *, payload: dict[str, Any] | None = None):
    """An unsaved mailbox copy of `message` for `owner` (`payload` overrides the message's)."""
    return MailboxEntry(
        owner=owner,
        message_id=message.id,
        sender=message.sender,
        recipient=message.recipient,
        message_type=message.message_type,
        payload=message.payload if payload is None else payload,
        reply_to=message.reply_to,
        sent_at=message.created_at,
        stored_at=now(),
    )


def _lock(owners: list[str]) -> None:
    """Lock the owners' mailbox rows in one fixed order, so two deposits never deadlock."""
    known = set(Mailbox.objects.filter(owner__in=owners).values_list("owner", flat=True))
    missing = [Mailbox(owner=owner) for owner in owners if owner not in known]
    if missing:
        Mailbox.objects.bulk_create(missing, ignore_conflicts=True)
    list(Mailbox.objects.select_for_update().filter(owner__in=owners).order_by("owner"))


def deposit(entries: Iterable[MailboxEntry]) -> list[str]:
    """Store mailbox entries and apply the per-mailbox cap; returns the owners reached.

    Runs in the caller's transaction (or its own); nothing is announced.
    """
    entries = list(entries)
    if not entries:
        return []
    owners = sorted({entry.owner for entry in entries})
    with transaction.atomic():
        _lock(owners)
        MailboxEntry.objects.bulk_create(entries)
        trim(owners)
    return owners


def trim(owners: list[str] | None = None) -> int:
    """Drop the oldest entries of every mailbox over the cap; returns how many went."""
    cap = config.mailbox_cap()
    counts = MailboxEntry.objects.order_by().values("owner").annotate(n=Count("seq"))
    crowded = counts.filter(n__gt=cap)
    if owners is not None:
        crowded = crowded.filter(owner__in=owners)
    dropped = 0
    for owner in [row["owner"] for row in crowded]:
        newest = MailboxEntry.objects.filter(owner=owner).order_by("-seq")
        boundary = newest.values_list("seq", flat=True)[cap - 1 : cap].first()
        if boundary is not None:
            dropped += MailboxEntry.objects.filter(owner=owner, seq__lt=boundary).delete()[0]
    return dropped


def poll(owner: str, *, since: int = 0) -> Poll:
    """Entries after `since`, oldest first; `last_seq` is the last one returned, else `since`."""
    entries = list(MailboxEntry.objects.filter(owner=owner, seq__gt=since).order_by("seq"))
    return Poll(entries, entries[-1].seq if entries else since)


def ack(owner: str, *, up_to: int) -> int:
    """Delete the owner's entries with seq <= `up_to`; returns how many were deleted."""
    with transaction.atomic():
        return MailboxEntry.objects.filter(owner=owner, seq__lte=up_to).delete()[0]


def evict_expired(*, ttl_ms: int | None = None) -> int:
    """Delete entries stored longer ago than the mailbox TTL; returns how many."""
    ttl = config.mailbox_ttl_ms() if ttl_ms is None else ttl_ms
    cutoff = now() - timedelta(milliseconds=ttl)
    return MailboxEntry.objects.filter(stored_at__lt=cutoff).delete()[0]
