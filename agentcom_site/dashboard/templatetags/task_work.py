"""`{% load task_work %}`: what a task says "done" means and what work cost, each a
partial that reads what it shows itself, so a page includes it with one tag.

- `{% task_definition task %}`: the definition of done and the cost (task page);
- `{% task_verification task %}`: its risk tier and its verification reports (task page);
- `{% cost_panel %}`: what attempts cost over the last 7 days (overview): a chart and a
  table per UTC day, the most expensive agents and repos; one query each.
"""

from datetime import timedelta

from django import template

from agentcom_site.core.clock import from_ms, now, to_ms
from tasks import budgets, costs, verification

register = template.Library()

COST_PANEL_AGENTS = 10
COST_PANEL_REPOS = 10


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
    by_repo = costs.sums("repo", since, until)
    return {
        "days": by_day["groups"],
        "chart": _every_day(by_day["groups"], since, until),
        "totals": by_day["totals"],
        "agents": by_agent["groups"][:COST_PANEL_AGENTS],
        "repos": by_repo["groups"][:COST_PANEL_REPOS],
    }


def _every_day(groups: list[dict], since, until) -> list[dict]:
    """One chart point per UTC day of the range, 0 for a day nothing was spent."""
    spent = {group["key"]: group["cost_usd"] for group in groups}
    day, points = budgets.day_start(since), []
    while day < until:
        points.append({"t": to_ms(day), "cost_usd": spent.get(day.date().isoformat(), 0)})
        day += timedelta(days=1)
    return points
