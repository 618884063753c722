"""Mailboxes: messages waiting for agents that could not take a push.

A message for several offline agents is stored once, as a letter; each mailbox holds
a small entry referring to it (a broadcast to N offline agents costs its payload once
plus N rows). Entries carry a global, increasing `seq`. Polling never deletes;
acknowledging a seq deletes every entry up to it. A mailbox keeps at most
`config.mailbox_cap()` entries and `config.mailbox_max_bytes()` bytes of payload,
dropping the oldest first; its newest entry always stays (PROTOCOL.md §4.2, §4.6). A
letter goes when the last entry holding it goes.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Sum

from agentcom_site.core.clock import now
from messaging import config
from messaging.models import Mailbox, MailboxEntry, MailboxLetter, Message


@dataclass(frozen=True)
class Poll:
    entries: list[MailboxEntry]
    last_seq: int


def payload_size(payload: dict[str, Any]) -> int:
    """Bytes of the payload as compact UTF-8 JSON: what a mailbox's byte budget counts."""
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())


def _letter(message: Message, payload: dict[str, Any] | None) -> MailboxLetter:
    content = message.payload if payload is None else payload
    return MailboxLetter.objects.create(
        message_id=message.id,
        sender=message.sender,
        recipient=message.recipient,
        message_type=message.message_type,
        payload=content,
        reply_to=message.reply_to,
        sent_at=message.created_at,
        stored_at=now(),
        size=payload_size(content),
    )


def _lock(owners: list[str]) -> None:
    """Lock the owners' mailbox rows in one fixed order, so two deposits never deadlock."""
    known = set(Mailbox.objects.filter(owner__in=owners).values_list("owner", flat=True))
    missing = [Mailbox(owner=owner) for owner in owners if owner not in known]
    if missing:
        Mailbox.objects.bulk_create(missing, ignore_conflicts=True)
    list(Mailbox.objects.select_for_update().filter(owner__in=owners).order_by("owner"))


def deposit(
    message: Message, owners: Iterable[str], *, payload: dict[str, Any] | None = None
) -> list[str]:
    """Put `message` (with `payload` instead of its own, if given) in each owner's mailbox
    as one letter, then apply the per-mailbox limits; returns the owners reached.

    Runs in the caller's transaction (or its own); nothing is announced.
    """
    owners = sorted(set(owners))
    if not owners:
        return []
    with transaction.atomic():
        _lock(owners)
        letter = _letter(message, payload)
        MailboxEntry.objects.bulk_create(MailboxEntry(owner=o, letter=letter) for o in owners)
        trim(owners)
    return owners


def _drop_entries(entries) -> int:
    """Delete entries and every letter left without one; returns the entries deleted."""
    letters = set(entries.values_list("letter_id", flat=True))
    dropped = entries.delete()[0]
    if letters:
        MailboxLetter.objects.filter(pk__in=letters, entries__isnull=True).delete()
    return dropped


def _boundary(owner: str, cap: int, budget: int) -> int | None:
    """The oldest seq the owner keeps: the newest entries within both limits (the newest
    one always), or None when every entry fits."""
    newest = MailboxEntry.objects.filter(owner=owner).order_by("-seq")
    kept, total, boundary = 0, 0, None
    for seq, size in newest.values_list("seq", "letter__size"):
        if kept and (kept >= cap or total + size > budget):
            return boundary
        kept, total, boundary = kept + 1, total + size, seq
    return None


def trim(owners: list[str] | None = None) -> int:
    """Drop the oldest entries of every mailbox over its entry cap or byte budget;
    returns how many went."""
    cap, budget = config.mailbox_cap(), config.mailbox_max_bytes()
    figures = MailboxEntry.objects.order_by().values("owner")
    if owners is not None:
        figures = figures.filter(owner__in=owners)
    figures = figures.annotate(n=Count("seq"), size=Sum("letter__size"))
    crowded = [row["owner"] for row in figures if row["n"] > cap or row["size"] > budget]
    dropped = 0
    for owner in crowded:
        boundary = _boundary(owner, cap, budget)
        if boundary is not None:
            dropped += _drop_entries(MailboxEntry.objects.filter(owner=owner, seq__lt=boundary))
    return dropped


def poll(owner: str, *, since: int = 0) -> Poll:
    """Entries after `since`, oldest first; `last_seq` is the last one returned, else `since`."""
    entries = list(
        MailboxEntry.objects.filter(owner=owner, seq__gt=since)
        .select_related("letter")
        .order_by("seq")
    )
    return Poll(entries, entries[-1].seq if entries else since)


def ack(owner: str, *, up_to: int) -> int:
    """Delete the owner's entries with seq <= `up_to`; returns how many were deleted."""
    with transaction.atomic():
        return _drop_entries(MailboxEntry.objects.filter(owner=owner, seq__lte=up_to))


def evict_expired(*, ttl_ms: int | None = None) -> int:
    """Delete letters stored longer ago than the mailbox TTL, and the entries holding
    them; returns how many entries went."""
    ttl = config.mailbox_ttl_ms() if ttl_ms is None else ttl_ms
    cutoff = now() - timedelta(milliseconds=ttl)
    _, by_model = MailboxLetter.objects.filter(stored_at__lt=cutoff).delete()
    return by_model.get(MailboxEntry._meta.label, 0)
