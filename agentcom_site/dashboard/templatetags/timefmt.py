"""`{% load timefmt %}`: moments and durations written one way on every page.

`when` uses the hub's DATETIME_FORMAT (agentcom_site/formats), the same the admin
uses, so a time reads alike everywhere (UTC, with seconds).
"""

from datetime import datetime, timedelta

from django import template
from django.utils import formats, timezone

register = template.Library()


@register.filter
def when(value: datetime | None) -> str:
    """`2026-01-02 03:04:05`, or "" for no moment (so a `default` filter applies)."""
    if not value:
        return ""
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")


def span(delta: timedelta) -> str:
    seconds = max(0, delta.total_seconds())
    if seconds < 1:
        return f"{int(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


@register.filter
def took(task) -> str:
    """How long the task ran: from its assignment to its end ("" while unfinished)."""
    if task.completed_at is None or task.assigned_at is None:
        return ""
    return span(task.completed_at - task.assigned_at)


@register.filter
def finished_at(task) -> datetime | None:
    """When the task reached its end state (a dead letter: its last change)."""
    if task.completed_at is not None:
        return task.completed_at
    if task.status == "dead_letter":
        return task.updated_at
    return None
