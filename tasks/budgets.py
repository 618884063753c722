"""Daily budgets: what was spent today (UTC) and whether a budget is reached.

Spend is the summed `cost_usd` of every reported attempt since the UTC day began,
completed or failed (`AttemptCost`). A repo's budget is its `Repo` row's; the fleet's is
the `FleetBudget` row's, or AGENTCOM_FLEET_DAILY_BUDGET_USD while nobody set one.
At the budget the claim withholds new work (`tasks.flow`); the scheduler asks for a
pass at the day's turn, when the spend starts again from nothing.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from agentcom_site.core import rows
from agentcom_site.core.clock import now, to_ms
from agentcom_site.core.events import EventKind, announce
from tasks.models import AttemptCost, FleetBudget, FlowChange, FlowScope

ZERO = Decimal(0)
FLEET_ROW = 1


def day_start(moment: datetime | None = None) -> datetime:
    """The start of the UTC day `moment` (default now) falls in."""
    moment = (moment or now()).astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def next_day_start(moment: datetime | None = None) -> datetime:
    return day_start(moment) + timedelta(days=1)


def next_day_start_ms(moment: datetime | None = None) -> int:
    return to_ms(next_day_start(moment))


def spent_today(repos: Iterable[str] | None = None, moment: datetime | None = None) -> Decimal:
    """Dollars spent today by the attempts of `repos` (names), or of the whole fleet."""
    attempts = AttemptCost.objects.filter(reported_at__gte=day_start(moment))
    if repos is not None:
        attempts = attempts.filter(repo__in=list(repos))
    return attempts.aggregate(total=Sum("cost_usd"))["total"] or ZERO


def spent_per_repo_today(
    names: Iterable[str], moment: datetime | None = None
) -> dict[str, Decimal]:
    """Today's spend of each named repo, in one grouped query (absent: nothing spent)."""
    names = list(names)
    if not names:
        return {}
    totals = (
        AttemptCost.objects.filter(reported_at__gte=day_start(moment), repo__in=names)
        .values("repo")
        .annotate(total=Sum("cost_usd"))
        .values_list("repo", "total")
    )
    return {repo: total or ZERO for repo, total in totals}


def fleet_budget() -> Decimal | None:
    """The fleet's daily budget in force, or None when there is none."""
    # Fixed SQL (core/rows.py): every pass and every claim asks.
    found = list(rows.values(FleetBudget, ("daily_budget_usd",), '"id" = %s', [FLEET_ROW]))
    value = found[0][0] if found else None
    if value is None:
        default = settings.AGENTCOM_FLEET_DAILY_BUDGET_USD
        return Decimal(str(default)) if default > 0 else None
    return value


def fleet_budget_is_default() -> bool:
    return not FleetBudget.objects.filter(pk=FLEET_ROW, daily_budget_usd__isnull=False).exists()


def set_fleet_budget(*, actor: str, budget: Decimal | None, reason: str = "") -> bool:
    """Set the fleet's daily budget (None: back to the setting's default). Audited as a
    flow change; every scheduler runs a pass after commit, so a raised budget releases
    the tasks it held at once. Returns whether it changed."""
    with transaction.atomic():
        row, _ = FleetBudget.objects.select_for_update().get_or_create(pk=FLEET_ROW)
        if row.daily_budget_usd == budget:
            return False
        row.daily_budget_usd = budget
        row.updated_by = actor
        row.updated_at = now()
        row.save()
        audit("budget_set", FlowScope.ALL, "", actor, reason)
    return True


def audit(action: str, scope: str, key: str, actor: str, reason: str) -> None:
    """One flow-change row, and a pass everywhere after commit (`dispatch_changed`)."""
    FlowChange.objects.create(action=action, scope=scope, key=key, actor=actor, reason=reason)
    announce(EventKind.DISPATCH_CHANGED, action=action, scope=scope, key=key)


def share(spent: Decimal, budget: Decimal | None) -> float | None:
    """spent / budget (1.0 and over: reached); None without a budget."""
    if budget is None:
        return None
    if budget <= 0:
        return 1.0
    return float(spent / budget)
