"""`{% load task_work %}`: what a task says "done" means and what work cost, each a
partial that reads what it shows itself, so a page includes it with one tag.

- `{% task_definition task %}`: the definition of done and the cost (task page);
- `{% task_verification task %}`: its risk tier and its verification reports (task page);
- `{% cost_panel %}`: what completed tasks cost over the last 7 days (overview).
"""

from django import template

from agentcom_site.core.clock import from_ms, now
from tasks import costs, verification

register = template.Library()

COST_PANEL_AGENTS = 10


@register.inclusion_tag("dashboard/work/task_definition.html")
def task_definition(task):
    has_cost = any(
        value not in (None, "")
        for value in (task.tokens_in, task.tokens_out, task.model, task.cost_usd, task.iterations)
    )
    return {"task": task, "has_cost": has_cost}


@register.inclusion_tag("dashboard/work/verification.html")
def task_verification(task):
    """The risk the hub gave the change and every attempt's report (one query); each
    step's output in a <pre>, escaped like all text on the page."""
    attempts = verification.reports(task)
    for attempt in attempts:
        attempt["finished_at"] = from_ms(attempt["finished_at"])
    return {"task": task, "attempts": attempts}


@register.inclusion_tag("dashboard/work/cost_panel.html")
def cost_panel():
    since, until = costs.default_range(now())
    by_day = costs.sums("day", since, until)
    by_agent = costs.sums("agent", since, until)
    return {
        "days": by_day["groups"],
        "totals": by_day["totals"],
        "agents": by_agent["groups"][:COST_PANEL_AGENTS],
    }
