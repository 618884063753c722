"""The invariants over the stored state (DESIGN.md "Rules that always hold"), as a list
of problems: what `manage.py check_integrity` reports. Reads only.

Each check is one query that returns the offending rows, at most `SHOWN` of them, so
the report stays readable on a large database while still saying how many there are.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Max, OuterRef, Q, Subquery

from agentcom_site.core.clock import now
from agents.models import Agent, AgentState
from messaging.models import Channel, Mailbox, MailboxEntry, MailboxLetter, Message
from tasks.models import HELD, Task, TaskEvent, TaskStatus

SHOWN = 20  # offending rows named per check


@dataclass(frozen=True)
class Problem:
    check: str
    subject: str
    detail: str


def _held_by_lost_agent() -> Iterator[Problem]:
    # The sweep reclaims these a grace after the holder went; allow two sweeps beyond it.
    slack = settings.AGENTCOM_RECONNECT_GRACE_S + 2 * settings.AGENTCOM_SWEEP_INTERVAL_S
    cutoff = now() - timedelta(seconds=slack)
    rows = Task.objects.filter(
        status__in=HELD, holder__state=AgentState.OFFLINE, holder__last_state_change__lt=cutoff
    ).values_list("id", "holder__agent_id", "holder__last_state_change")
    for task_id, agent_id, since in rows[:SHOWN]:
        yield Problem(
            "held_by_offline_agent",
            task_id,
            f"held by {agent_id}, offline since {since:%Y-%m-%d %H:%M:%S} UTC, past the "
            "reconnect grace (the sweep requeues it when a hub runs)",
        )


def _holder_matches_status() -> Iterator[Problem]:
    for task_id, status in Task.objects.filter(status__in=HELD, holder__isnull=True).values_list(
        "id", "status"
    )[:SHOWN]:
        yield Problem("held_without_holder", task_id, f"{status} but no agent holds it")
    # A finished task keeps the agent that finished it; a queued one has none.
    for task_id, status, agent_id in Task.objects.filter(
        status=TaskStatus.QUEUED, holder__isnull=False
    ).values_list("id", "status", "holder__agent_id")[:SHOWN]:
        yield Problem("holder_on_free_task", task_id, f"{status} but still names {agent_id}")


def _one_task_per_agent() -> Iterator[Problem]:
    rows = (
        Task.objects.filter(status__in=HELD)
        .values("holder__agent_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by("holder__agent_id")
    )
    for row in rows[:SHOWN]:
        yield Problem("agent_holds_two_tasks", row["holder__agent_id"], f"holds {row['n']} tasks")


def _events_consistent() -> Iterator[Problem]:
    tasks = Task.objects.annotate(
        events_n=Count("events"),
        seq_max=Max("events__seq"),
        generation_max=Max("events__generation"),
    )
    wrong = tasks.filter(
        ~Q(events_n=F("event_count"))
        | ~Q(seq_max=F("event_count"))
        | Q(generation_max__gt=F("generation"))
    ).values_list("id", "event_count", "events_n", "seq_max", "generation", "generation_max")
    for task_id, count, n, seq, generation, event_generation in wrong[:SHOWN]:
        yield Problem(
            "events_inconsistent",
            task_id,
            f"event_count {count}, {n} event rows, last seq {seq}; "
            f"generation {generation}, events name up to {event_generation}",
        )
    last_event = TaskEvent.objects.filter(task=OuterRef("pk")).order_by("-seq")
    drifted = (
        Task.objects.annotate(last_to=Subquery(last_event.values("to_status")[:1]))
        .filter(last_to__isnull=False)
        .exclude(last_to=F("status"))
        .values_list("id", "status", "last_to")
    )
    for task_id, status, last_to in drifted[:SHOWN]:
        yield Problem(
            "status_not_in_history", task_id, f"{status}, but its last event says {last_to}"
        )
    for task_id, status in Task.objects.filter(
        status__in=[*HELD, TaskStatus.COMPLETED], generation=0
    ).values_list("id", "status")[:SHOWN]:
        yield Problem("generation_zero", task_id, f"{status} with generation 0 (never assigned)")


def _mailboxes_in_range() -> Iterator[Problem]:
    for name, last_seq, top in (
        Channel.objects.annotate(top=Max("messages__channel_seq"))
        .filter(top__gt=F("last_seq"))
        .values_list("name", "last_seq", "top")[:SHOWN]
    ):
        yield Problem(
            "channel_cursor_behind",
            name,
            f"last_seq {last_seq}, but a message has channel seq {top}",
        )
    known = Mailbox.objects.filter(owner=OuterRef("owner"))
    for owner in (
        MailboxEntry.objects.exclude(owner__in=Subquery(known.values("owner")))
        .values_list("owner", flat=True)
        .distinct()[:SHOWN]
    ):
        yield Problem("entry_without_mailbox", owner, "holds entries but has no mailbox row")
    orphans = MailboxLetter.objects.filter(entries__isnull=True)
    n = orphans.count()
    if n:
        yield Problem("letter_without_entry", f"{n} letter(s)", "stored but in no mailbox")
    for message_id, channel in Message.objects.filter(
        channel__isnull=False, channel_seq__isnull=True
    ).values_list("id", "channel__name")[:SHOWN]:
        yield Problem("channel_message_without_seq", message_id, f"in {channel} without a seq")


def _sqlite_file() -> Iterator[Problem]:
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA quick_check")
        result = [row[0] for row in cursor.fetchmany(SHOWN)]
    if result != ["ok"]:
        for line in result:
            yield Problem("sqlite_quick_check", "database file", line)


def _agents_known() -> Iterator[Problem]:
    for agent_id, state in (
        Agent.objects.filter(state__in=[AgentState.ASSIGNED, AgentState.WORKING])
        .exclude(held_tasks__status__in=HELD)
        .values_list("agent_id", "state")[:SHOWN]
    ):
        yield Problem("agent_state_without_task", agent_id, f"{state} but holds no task")


CHECKS = (
    _sqlite_file,
    _held_by_lost_agent,
    _holder_matches_status,
    _one_task_per_agent,
    _agents_known,
    _events_consistent,
    _mailboxes_in_range,
)


def problems() -> Iterator[Problem]:
    for check in CHECKS:
        yield from check()
