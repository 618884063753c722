"""Analytics: traffic per agent per hour, connection sessions, and the figures read from them.

Traffic is counted inside the transaction that routes a message, so the figures move
exactly with committed traffic. Sessions open on `agent_joined` and close on
`agent_left` (a replacement socket is neither), both committed presence events
(PROTOCOL.md §4.6, §4.7).
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Max, Q, Sum

from agentcom_site.core.clock import now, to_ms
from agentcom_site.core.events import Event, EventKind
from agents.models import Agent, AgentState
from messaging.models import ConnectionSession, HourlyTraffic

HOUR = timedelta(hours=1)
WINDOW_HOURS = 24
ACTIVE_WITHIN = timedelta(minutes=5)


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def record_traffic(*, sender: str, recipients: Iterable[str], moment: datetime) -> None:
    """Count one message sent by `sender` and one received by each other recipient.

    Call inside the transaction that stores the message, so the counts commit with it.
    """
    bucket = hour_of(moment)
    received = sorted(set(recipients) - {sender})
    everyone = sorted({sender, *received})
    # Rows are created and locked in agent id order: two messages crossing between the
    # same agents then queue behind each other instead of deadlocking.
    rows = [HourlyTraffic(agent_id=agent_id, bucket=bucket) for agent_id in everyone]
    HourlyTraffic.objects.bulk_create(rows, ignore_conflicts=True)
    locked = HourlyTraffic.objects.select_for_update().filter(agent_id__in=everyone, bucket=bucket)
    list(locked.order_by("agent_id").values_list("pk", flat=True))
    HourlyTraffic.objects.filter(agent_id=sender, bucket=bucket).update(
        sent=F("sent") + 1, last_sent_at=moment
    )
    if received:
        HourlyTraffic.objects.filter(agent_id__in=received, bucket=bucket).update(
            received=F("received") + 1
        )


# --- connection sessions (committed presence events) --------------------------------------


def on_presence(event: Event) -> None:
    if event.kind == EventKind.AGENT_JOINED:
        session_opened(event.agent_id)
    elif event.kind == EventKind.AGENT_LEFT:
        session_closed(event.agent_id)


def session_opened(agent_id: str) -> None:
    with transaction.atomic():
        # A session left open by a hub that died is closed at its start: its real end
        # is unknown, and counting the downtime as connected time would be worse.
        ConnectionSession.objects.filter(agent_id=agent_id, ended_at__isnull=True).update(
            ended_at=F("started_at")
        )
        ConnectionSession.objects.create(agent_id=agent_id, started_at=now())


def session_closed(agent_id: str) -> None:
    ConnectionSession.objects.filter(agent_id=agent_id, ended_at__isnull=True).update(
        ended_at=now()
    )


def close_orphan_sessions() -> int:
    """Close the open sessions of agents that are offline (e.g. after a hub restart),
    at the last moment the hub saw them."""
    closed = 0
    offline = Agent.objects.filter(state=AgentState.OFFLINE)
    orphans = ConnectionSession.objects.filter(
        ended_at__isnull=True, agent_id__in=offline.values("agent_id")
    )
    last_seen = dict(
        offline.filter(agent_id__in=orphans.values("agent_id")).values_list("agent_id", "last_seen")
    )
    for session in orphans:
        end = last_seen.get(session.agent_id) or session.started_at
        closed += ConnectionSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(
            ended_at=max(end, session.started_at)
        )
    return closed


# --- reads ---------------------------------------------------------------------------------


def _window(moment: datetime) -> tuple[datetime, datetime]:
    """The first bucket of the last 24 hours and the current bucket."""
    current = hour_of(moment)
    return current - (WINDOW_HOURS - 1) * HOUR, current


def _connection_ms(moment: datetime) -> dict[str, int]:
    since = moment - WINDOW_HOURS * HOUR
    totals: dict[str, int] = {}
    sessions = ConnectionSession.objects.filter(Q(ended_at__isnull=True) | Q(ended_at__gt=since))
    for agent_id, started, ended in sessions.values_list("agent_id", "started_at", "ended_at"):
        span = min(ended or moment, moment) - max(started, since)
        totals[agent_id] = totals.get(agent_id, 0) + max(0, int(span.total_seconds() * 1000))
    return totals


def agent_figures(moment: datetime | None = None) -> list[dict[str, Any]]:
    """`GET /api/analytics/agents`: one entry per registered agent, by agent id."""
    moment = moment or now()
    first, current = _window(moment)
    day = {
        row["agent_id"]: row
        for row in HourlyTraffic.objects.filter(bucket__gte=first)
        .order_by()
        .values("agent_id")
        .annotate(sent=Sum("sent"), received=Sum("received"))
    }
    this_hour = dict(HourlyTraffic.objects.filter(bucket=current).values_list("agent_id", "sent"))
    last_sent = dict(
        HourlyTraffic.objects.order_by()
        .values("agent_id")
        .annotate(last=Max("last_sent_at"))
        .values_list("agent_id", "last")
    )
    last_connect = dict(
        ConnectionSession.objects.order_by()
        .values("agent_id")
        .annotate(last=Max("started_at"))
        .values_list("agent_id", "last")
    )
    connected_ms = _connection_ms(moment)
    figures = []
    for agent in Agent.objects.order_by("agent_id"):
        marks = [m for m in (last_sent.get(agent.agent_id), last_connect.get(agent.agent_id)) if m]
        last_active = max(marks) if marks else None
        connected = agent.state != AgentState.OFFLINE
        idle_ms = int((moment - last_active).total_seconds() * 1000) if last_active else None
        if not connected:
            status = "offline"
        elif last_active is not None and moment - last_active < ACTIVE_WITHIN:
            status = "active"
        else:
            status = "idle"
        traffic = day.get(agent.agent_id, {})
        figures.append(
            {
                "agent_id": agent.agent_id,
                "connected": connected,
                "idle_ms": idle_ms,
                "status": status,
                "messages_sent_24h": traffic.get("sent") or 0,
                "messages_received_24h": traffic.get("received") or 0,
                "messages_sent_this_hour": this_hour.get(agent.agent_id, 0),
                "connection_time_24h_ms": connected_ms.get(agent.agent_id, 0),
                "last_active": to_ms(last_active),
                "last_seen": to_ms(agent.last_seen),
                "total_connections": agent.total_connections,
            }
        )
    return figures


def summary(moment: datetime | None = None) -> dict[str, Any]:
    """`GET /api/analytics/summary`."""
    moment = moment or now()
    figures = agent_figures(moment)
    first, _ = _window(moment)
    sent = HourlyTraffic.objects.filter(bucket__gte=first).aggregate(n=Sum("sent"))["n"]
    return {
        "total_agents": len(figures),
        "agents_connected": sum(1 for f in figures if f["connected"]),
        "agents_active": sum(1 for f in figures if f["status"] == "active"),
        "agents_idle": sum(1 for f in figures if f["status"] == "idle"),
        "agents_offline": sum(1 for f in figures if f["status"] == "offline"),
        "total_messages_24h": sent or 0,
        "timestamp": to_ms(moment),
    }


def hourly(agent_id: str, moment: datetime | None = None) -> list[dict[str, Any]]:
    """`GET /api/analytics/agents/:id/hourly`: the last 24 hourly buckets, oldest first."""
    moment = moment or now()
    first, _ = _window(moment)
    counts = {
        bucket: (sent, received)
        for bucket, sent, received in HourlyTraffic.objects.filter(
            agent_id=agent_id, bucket__gte=first
        ).values_list("bucket", "sent", "received")
    }
    buckets = []
    for step in range(WINDOW_HOURS):
        bucket = first + step * HOUR
        sent, received = counts.get(bucket, (0, 0))
        buckets.append(
            {
                "bucket": to_ms(bucket),
                "hour": bucket.strftime("%H:%M"),
                "sent": sent,
                "received": received,
            }
        )
    return buckets
