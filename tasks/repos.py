"""The repo registry (DESIGN.md "Repos"): operator services, the lookups a task's `repo`
needs, and the holds that keep a repo's queued tasks from being placed.

- `create`, `update`, `pause`, `resume`: operator services (API, admin, dashboard).
  Pauses, resumes and budget changes are audited as flow changes and announce
  `dispatch_changed` after commit, which asks every scheduler for a pass.
- `find`, `canonical`, `resolved`: what a task's `repo` (a registered name or URL, or
  an unregistered URL) stands for; `task_assign` carries the resolved URL and base.
- `holds()`: the paused repos and those at their daily budget, plus the fleet's
  budget, as one pass reads them (`tasks.flow.read_gate`); `hold_for(ref)`: the same
  for one task, inside the claim.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from agentcom_site.core import rows
from agentcom_site.core.clock import now, to_ms
from agentcom_site.core.errors import conflict, not_found
from tasks import budgets
from tasks.models import FlowScope, Priority, Repo

HOLDS_READ = 10_000  # paused or budgeted repos one pass reads at most
REPO = FlowScope.REPO


def is_url(ref: str) -> bool:
    """A repo name has no ':' (gitnames): anything with one is a URL or user@host:path."""
    return ":" in ref


def find(ref: str) -> Repo | None:
    """The registered repo a task's `repo` names, by name or by URL."""
    if not ref:
        return None
    # Fixed SQL (core/rows.py): every claim of a task with a repo asks.
    found = rows.select(Repo, '"name" = %s OR "url" = %s', [ref, ref], order='"id"', limit=1)
    return found[0] if found else None


def canonical(ref: str) -> str:
    """The key a task's spend is counted under: a registered repo's name, else as given."""
    repo = find(ref) if ref and is_url(ref) else None
    return repo.name if repo is not None else ref


def resolved(repo_ref: str, branch: str) -> tuple[str | None, str | None]:
    """(repo_url, base branch) for `task_assign`: the registered repo's URL and default
    branch unless the task names a branch; an unregistered URL as given; a name nobody
    registered gives no URL."""
    repo = find(repo_ref)
    if repo is not None:
        return repo.url, branch or repo.default_branch
    return (repo_ref if repo_ref and is_url(repo_ref) else None), branch or None


# --- operator services -------------------------------------------------------------------


def create(
    *,
    actor: str,
    name: str,
    url: str,
    default_branch: str = "main",
    priority: int = Priority.NORMAL,
    daily_budget_usd: Decimal | None = None,
) -> Repo:
    """Register a repo. 409 `repo_exists` when the name is taken."""
    try:
        with transaction.atomic():
            return Repo.objects.create(
                name=name,
                url=url,
                default_branch=default_branch,
                priority=priority,
                daily_budget_usd=daily_budget_usd,
                updated_by=actor,
            )
    except IntegrityError:
        raise conflict("repo_exists", f"a repo named {name} is registered", name=name) from None


def _locked(name: str) -> Repo:
    repo = Repo.objects.select_for_update().filter(name=name).first()
    if repo is None:
        raise not_found("repo_not_found", f"no repo named {name}", name=name)
    return repo


EDITABLE = ("url", "default_branch", "priority", "daily_budget_usd")


def update(*, actor: str, name: str, changes: dict[str, Any]) -> Repo:
    """Change a repo's url, default branch, priority or daily budget (a key absent from
    `changes` stays; `daily_budget_usd` None removes the budget). A budget change is
    audited and asks for a pass: a raised budget releases the tasks it held."""
    with transaction.atomic():
        repo = _locked(name)
        changed = [key for key in EDITABLE if key in changes and getattr(repo, key) != changes[key]]
        if not changed:
            return repo
        for key in changed:
            setattr(repo, key, changes[key])
        repo.updated_by = actor
        repo.updated_at = now()
        repo.save()
        if "daily_budget_usd" in changed:
            budget = repo.daily_budget_usd
            shown = "none" if budget is None else f"{budget.normalize():f} USD"
            budgets.audit("budget_set", REPO, name, actor, f"daily budget {shown}")
    return repo


def pause(*, actor: str, name: str, reason: str = "") -> tuple[Repo, bool]:
    """Stop placing the repo's queued tasks (held ones go on). (repo, whether it changed)."""
    with transaction.atomic():
        repo = _locked(name)
        if repo.paused:
            return repo, False
        repo.paused, repo.paused_by, repo.paused_reason = True, actor, reason
        repo.paused_at = repo.updated_at = now()
        repo.save()
        budgets.audit("paused", REPO, name, actor, reason)
    return repo, True


def resume(*, actor: str, name: str, reason: str = "") -> tuple[Repo, bool]:
    """Place the repo's tasks again; every scheduler runs a pass after commit."""
    with transaction.atomic():
        repo = _locked(name)
        if not repo.paused:
            return repo, False
        repo.paused, repo.paused_by, repo.paused_reason, repo.paused_at = False, "", "", None
        repo.updated_at = now()
        repo.save()
        budgets.audit("resumed", REPO, name, actor, reason)
    return repo, True


# --- holds ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hold:
    """Why tasks wait: `repo_paused`, `repo_budget` (repo "" never) or `fleet_budget`."""

    reason: str
    repo: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def by_budget(self) -> bool:
        return self.reason in ("repo_budget", "fleet_budget")


def _dollars(value: Decimal) -> str:
    return f"${value.quantize(Decimal('0.01'))}"


def _paused_hold(repo: Repo) -> Hold:
    why = f": {repo.paused_reason}" if repo.paused_reason else ""
    return Hold(
        "repo_paused",
        repo.name,
        f"repo {repo.name} is paused by {repo.paused_by}{why}",
        {
            "repo": repo.name,
            "paused_by": repo.paused_by,
            "reason": repo.paused_reason,
            "paused_at": to_ms(repo.paused_at),
        },
    )


def _budget_hold(name: str, spent: Decimal, budget: Decimal, *, fleet: bool = False) -> Hold:
    whose = "the fleet" if fleet else f"repo {name}"
    return Hold(
        "fleet_budget" if fleet else "repo_budget",
        name,
        f"{whose} spent {_dollars(spent)} of its {_dollars(budget)} daily budget today; new "
        "tasks wait until an operator raises the budget or the UTC day turns",
        {
            "repo": None if fleet else name,
            "spent_usd": float(spent),
            "budget_usd": float(budget),
            "until": budgets.next_day_start_ms(),
        },
    )


def _hold_of(repo: Repo, spent: Decimal) -> Hold | None:
    if repo.paused:
        return _paused_hold(repo)
    if repo.daily_budget_usd is not None and spent >= repo.daily_budget_usd:
        return _budget_hold(repo.name, spent, repo.daily_budget_usd)
    return None


def fleet_hold() -> Hold | None:
    budget = budgets.fleet_budget()
    if budget is None:
        return None
    spent = budgets.spent_today()
    return _budget_hold("", spent, budget, fleet=True) if spent >= budget else None


def holds() -> tuple[dict[str, Hold], Hold | None]:
    """{name or url: hold} of every repo whose tasks wait now, and the fleet's hold.
    Three small queries: the paused or budgeted repos, their spend, the fleet's."""
    # Fixed SQL (core/rows.py): every pass reads them.
    held = rows.select(
        Repo, '"paused" = %s OR "daily_budget_usd" IS NOT NULL', [True], limit=HOLDS_READ
    )
    spent = budgets.spent_per_repo_today(
        r.name for r in held if not r.paused and r.daily_budget_usd is not None
    )
    found: dict[str, Hold] = {}
    for repo in held:
        hold = _hold_of(repo, spent.get(repo.name, budgets.ZERO))
        if hold is not None:
            found[repo.name] = found[repo.url] = hold
    return found, fleet_hold()


def hold_for(ref: str) -> Hold | None:
    """The hold on one task's repo, read fresh (the claim's check)."""
    repo = find(ref) if ref else None
    if repo is None or not (repo.paused or repo.daily_budget_usd is not None):
        return None
    spent = budgets.ZERO if repo.paused else budgets.spent_today([repo.name])
    return _hold_of(repo, spent)


# --- what the API and the dashboard show ----------------------------------------------------


def listing(limit: int) -> list[dict[str, Any]]:
    """Repos by name with today's spend beside their budget (two queries)."""
    rows = list(Repo.objects.all()[:limit])
    spent = budgets.spent_per_repo_today(r.name for r in rows)
    return [view(repo, spent.get(repo.name, budgets.ZERO)) for repo in rows]


def view(repo: Repo, spent: Decimal | None = None) -> dict[str, Any]:
    if spent is None:
        spent = budgets.spent_today([repo.name])
    budget = repo.daily_budget_usd
    return {
        "name": repo.name,
        "url": repo.url,
        "default_branch": repo.default_branch,
        "priority": repo.priority,
        "paused": repo.paused,
        "paused_by": repo.paused_by or None,
        "paused_reason": repo.paused_reason or None,
        "paused_at": to_ms(repo.paused_at),
        "daily_budget_usd": float(budget) if budget is not None else None,
        "spent_today_usd": float(spent),
        "budget_share": budgets.share(spent, budget),
        "budget_reached": budget is not None and spent >= budget,
        "updated_by": repo.updated_by,
        "updated_at": to_ms(repo.updated_at),
    }


def fleet_view() -> dict[str, Any]:
    budget = budgets.fleet_budget()
    spent = budgets.spent_today()
    return {
        "daily_budget_usd": float(budget) if budget is not None else None,
        "is_default": budgets.fleet_budget_is_default(),
        "spent_today_usd": float(spent),
        "budget_share": budgets.share(spent, budget),
        "budget_reached": budget is not None and spent >= budget,
        "day_ends": budgets.next_day_start_ms(),
    }
