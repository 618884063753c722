"""`{% load flow %}`: the flow control pieces of the dashboard pages, each a partial that
reads what it shows itself, so a page includes it with one tag.

- `{% dispatch_banner %}`: paused or not, with pause and resume buttons (overview);
- `{% task_explanation task %}`: why a queued task is not running (task page);
- `{% drain_control agent %}`: drain or undrain the agent (agent page).
"""

from django import template

from tasks import explain, flow
from tasks.models import TaskStatus

register = template.Library()


@register.inclusion_tag("dashboard/flow/dispatch_banner.html", takes_context=True)
def dispatch_banner(context):
    return {"dispatch": flow.health_section(), "csrf_token": context.get("csrf_token")}


@register.inclusion_tag("dashboard/flow/task_explanation.html")
def task_explanation(task):
    if task.status != TaskStatus.QUEUED:
        return {"reasons": []}
    return {"reasons": explain.reasons(explain.read(task))}


@register.inclusion_tag("dashboard/flow/drain_control.html", takes_context=True)
def drain_control(context, agent):
    return {"agent": agent, "csrf_token": context.get("csrf_token")}
