"""The dashboard snapshot: `GET /api/dashboard/state` and the socket's `snapshot` frame.

A fixed dozen of aggregate or bounded queries, whatever the number of agents and tasks
(a page never runs a query per row). Recent figures are read from the
`TaskEvent` trail through its `created_at` index rather than by scanning tasks.
"""

import time
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import TruncMinute

from agentcom_site.core.clock import now, to_ms
from agentcom_site.dashboard import health
from agents.models import Agent, AgentState
from agents.wire import state_view
from tasks import figures, flow
from tasks.models import HELD, Task, TaskEvent, TaskStatus
from tasks.selectors import queue_order, task_stats

RECENT_COMPLETIONS = 20
DEAD_LETTERS_SHOWN = 50
CHART_BUCKET = timedelta(minutes=5)
CHART_BUCKETS = 36  # three hours
RECENT_EVENTS = 40  # the overview's live list, backfilled on load
QUESTIONS_SHOWN = 50  # tasks waiting for an answer, on top of the overview

_started_ms: int | None = None


def mark_started() -> None:
    global _started_ms
    _started_ms = int(time.time() * 1000)


def uptime_ms() -> int:
    if _started_ms is None:
        mark_started()
    return int(time.time() * 1000) - (_started_ms or 0)


def dashboard_state() -> dict[str, Any]:
    """The whole overview as one JSON-ready dict (PROTOCOL.md §4.7, plus fields for the pages)."""
    moment = now()
    agents, offline_ids = _agents(moment)
    queue = task_stats()
    minutes = _minute_counts(moment - CHART_BUCKET * CHART_BUCKETS)
    depth_now = queue["by_status"][TaskStatus.QUEUED]
    failed, finished = health.failures_this_hour(moment)
    chart = _chart(minutes, depth_now, moment)
    conditions = [
        *health.agents_offline(offline_ids),
        health.queue_growing(_minute_samples(minutes, depth_now, moment))
        or health.queue_growing_steadily([p["queued"] for p in chart["points"]]),
        health.stuck_tasks(health.stuck_task_ids(moment)),
        health.high_failure_rate(failed, finished),
        health.dispatch_paused(flow.health_section()),
    ]
    return {
        "uptime_ms": uptime_ms(),
        "timestamp": to_ms(moment),
        "health": health.summary(conditions),
        "agents": agents,
        "queue": {
            "by_status": queue["by_status"],
            "by_priority": queue["by_priority"],
            "dead_letter": queue["dead_letter"],
        },
        "dead_letter_tasks": _dead_letters(),
        "recent_completions": _recent_completions(),
        "throughput": {**_throughput(moment), "failed_last_hour": failed},
        "chart": chart,
        "series": {
            "bucket_ms": int(CHART_BUCKET.total_seconds() * 1000),
            "points": [
                b.as_dict() for b in figures.task_series(moment, CHART_BUCKET, CHART_BUCKETS)
            ],
        },
        "recent_events": _recent_events(),
        "waiting_questions": _waiting_questions(),
    }


# --- agents ------------------------------------------------------------------------


def _agents(moment: datetime) -> tuple[list[dict[str, Any]], list[str]]:
    """Agent cards, connected first; and the offline agents an operator should hear about."""
    rows = list(Agent.objects.all())
    held = {
        holder_pk: (task_id, title)
        for holder_pk, task_id, title in Task.objects.filter(status__in=HELD).values_list(
            "holder_id", "id", "title"
        )
    }
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    done_today = dict(
        TaskEvent.objects.filter(event="completed", created_at__gte=midnight)
        .values("agent_id")
        .annotate(n=Count("pk"))
        .values_list("agent_id", "n")
    )
    rows.sort(key=lambda a: (a.state == AgentState.OFFLINE, a.agent_id))
    cards, offline = [], []
    for agent in rows:
        task_id, title = held.get(agent.pk, (None, None))
        card = state_view(agent, task_id)
        card.update(
            status=agent.status_text,
            current_task_title=title,
            tasks_done_today=done_today.get(agent.agent_id, 0),
        )
        cards.append(card)
        if agent.state == AgentState.OFFLINE and _expected_back(agent, task_id, moment):
            offline.append(agent.agent_id)
    return cards, offline


def _expected_back(agent: Agent, task_id: str | None, moment: datetime) -> bool:
    """Offline while holding a task, or dropped within the last hour."""
    if task_id is not None:
        return True
    return agent.connected_at is not None and (
        agent.last_state_change >= moment - health.OFFLINE_NOTICE
    )


# --- tasks -------------------------------------------------------------------------


def _dead_letters() -> list[dict[str, Any]]:
    rows = queue_order(Task.objects.filter(status=TaskStatus.DEAD_LETTER)).values(
        "id", "title", "description", "last_error", "retry_count", "created_at", "updated_at"
    )
    return [
        {
            "id": row["id"],
            "title": row["title"],
            "description": row["description"],
            "last_error": row["last_error"] or None,
            "retry_count": row["retry_count"],
            "created_at": to_ms(row["created_at"]),
            "updated_at": to_ms(row["updated_at"]),
        }
        for row in rows[:DEAD_LETTERS_SHOWN]
    ]


def _waiting_questions() -> list[dict[str, Any]]:
    """Tasks waiting for an operator's answer, longest waiting first (one query)."""
    rows = (
        Task.objects.filter(status=TaskStatus.INPUT_REQUIRED)
        .order_by("asked_at", "id")
        .values("id", "title", "holder__agent_id", "question", "asked_at")
    )
    return [
        {
            "task_id": row["id"],
            "title": row["title"],
            "agent_id": row["holder__agent_id"],
            "question": row["question"],
            "asked_at": to_ms(row["asked_at"]),
        }
        for row in rows[:QUESTIONS_SHOWN]
    ]


def _recent_completions() -> list[dict[str, Any]]:
    latest = list(
        TaskEvent.objects.filter(event="completed")
        .order_by("-created_at", "-pk")
        .values_list("task_id", flat=True)[:RECENT_COMPLETIONS]
    )
    tasks = Task.objects.select_related("holder").in_bulk(latest)
    completions = []
    for task_id in latest:
        task = tasks.get(task_id)
        if task is None or task.completed_at is None:
            continue
        started = task.assigned_at or task.created_at
        result = task.result if isinstance(task.result, dict) else {}
        pr_url = result.get("pr_url")
        completions.append(
            {
                "task_id": task.id,
                "agent_id": task.holder.agent_id if task.holder_id else None,
                "title": task.title,
                "description": task.description,
                "duration_ms": to_ms(task.completed_at) - to_ms(started),
                "tokens_used": task.tokens_used,
                "completed_at": to_ms(task.completed_at),
                "pr_url": pr_url if isinstance(pr_url, str) else None,
            }
        )
    return completions


def _recent_events() -> list[dict[str, Any]]:
    """The latest task events with their task's title, newest first (one query)."""
    rows = TaskEvent.objects.order_by("-created_at", "-pk").values(
        "task_id", "task__title", "event", "agent_id", "created_at"
    )[:RECENT_EVENTS]
    return [
        {
            "type": "task_event",
            "task_id": row["task_id"],
            "title": row["task__title"],
            "event": row["event"],
            "agent_id": row["agent_id"] or None,
            "timestamp": to_ms(row["created_at"]),
        }
        for row in rows
    ]


def _throughput(moment: datetime) -> dict[str, Any]:
    duration = ExpressionWrapper(
        F("task__completed_at") - F("task__assigned_at"), output_field=DurationField()
    )
    figures = TaskEvent.objects.filter(
        event="completed", created_at__gte=moment - timedelta(hours=1)
    ).aggregate(n=Count("pk"), avg=Avg(duration), tokens=Sum("task__tokens_used"))
    average = figures["avg"]
    return {
        "completed_last_hour": figures["n"],
        "avg_completion_ms": int(average.total_seconds() * 1000) if average else None,
        "total_tokens_hour": figures["tokens"] or 0,
    }


# --- queue depth over time -------------------------------------------------------------


def _minute_counts(since: datetime) -> dict[datetime, dict[str, int]]:
    """Per minute: tasks entering and leaving `queued`, and completions (one query)."""
    into = Q(to_status=TaskStatus.QUEUED) & ~Q(from_status=TaskStatus.QUEUED)
    out_of = Q(from_status=TaskStatus.QUEUED) & ~Q(to_status=TaskStatus.QUEUED)
    rows = (
        TaskEvent.objects.filter(created_at__gte=since)
        .annotate(minute=TruncMinute("created_at"))
        .values("minute")
        .annotate(
            entered=Count("pk", filter=into),
            left=Count("pk", filter=out_of),
            completed=Count("pk", filter=Q(event="completed")),
        )
        .order_by()
    )
    return {row["minute"]: {k: row[k] for k in ("entered", "left", "completed")} for row in rows}


def _net(counts: dict[str, int] | None) -> int:
    return (counts["entered"] - counts["left"]) if counts else 0


def _minute_samples(minutes: dict[datetime, dict[str, int]], depth_now: int, moment) -> list[int]:
    """Queue depth now and at the start of this minute and the one before, oldest first.

    Walking back from the current count through the recorded moves gives past depths
    without storing samples anywhere, and every hub process agrees on them.
    """
    this_minute = moment.replace(second=0, microsecond=0)
    at_this_minute = depth_now - _net(minutes.get(this_minute))
    at_last_minute = at_this_minute - _net(minutes.get(this_minute - timedelta(minutes=1)))
    return [at_last_minute, at_this_minute, depth_now]


def _chart(minutes: dict[datetime, dict[str, int]], depth_now: int, moment) -> dict[str, Any]:
    """Queue depth at the end of each bucket and completions within it, oldest first."""
    step = int(CHART_BUCKET.total_seconds() // 60)
    last_start = moment.replace(second=0, microsecond=0)
    last_start -= timedelta(minutes=last_start.minute % step)
    starts = [last_start - CHART_BUCKET * i for i in range(CHART_BUCKETS - 1, -1, -1)]
    depth = depth_now
    points: list[dict[str, Any]] = []
    for start in reversed(starts):
        completed = 0
        net = 0
        for offset in range(step):
            counts = minutes.get(start + timedelta(minutes=offset))
            if counts:
                completed += counts["completed"]
                net += _net(counts)
        points.append({"t": to_ms(start), "queued": max(depth, 0), "completed": completed})
        depth -= net  # the depth at this bucket's start is the previous bucket's end
    points.reverse()
    return {"bucket_ms": int(CHART_BUCKET.total_seconds() * 1000), "points": points}
