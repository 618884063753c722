"""Repo routes (PROTOCOL.md §4.9 "Repos and budgets"): the registry and the fleet's
daily budget. Anyone with a token reads; only operators change. Thin views over
`tasks.repos` and `tasks.budgets`."""

from decimal import Decimal
from typing import Annotated, Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Status
from pydantic import AfterValidator, Field

from agentcom_site.core.auth import Principal, require_operator
from agentcom_site.core.errors import not_found
from agentcom_site.core.gitnames import BranchName, RepoSlug, RepoUrl
from agentcom_site.core.limits import BUDGET_USD_MAX
from agentcom_site.core.schemas import BODY_GUARD, Out, refusals
from agentcom_site.core.validation import Strict, text
from tasks import budgets, repos
from tasks.costs import CENTS
from tasks.models import Priority, Repo
from tasks.schemas import PriorityValue

router = Router(tags=["repos"])
budget_router = Router(tags=["repos"])

# Dollars, as a JSON number; kept to the micro-dollar like every cost.
Budget = Annotated[
    float,
    Field(ge=0, le=BUDGET_USD_MAX, allow_inf_nan=False),
    AfterValidator(lambda value: Decimal(str(value)).quantize(CENTS)),
]
Reason = text("reason")


class RepoIn(Strict):
    """`priority`: the lane of its tasks whose submitter names none (default normal).
    `daily_budget_usd`: dollars per UTC day; absent or null, no budget."""

    name: RepoSlug
    url: RepoUrl
    default_branch: BranchName = "main"
    priority: PriorityValue = Priority.NORMAL
    daily_budget_usd: Budget | None = None


class RepoChangeIn(Strict):
    """Only the fields given change; `daily_budget_usd` null removes the budget."""

    url: RepoUrl | None = None
    default_branch: BranchName | None = None
    priority: PriorityValue | None = None
    daily_budget_usd: Budget | None = None


class PauseRepoIn(Strict):
    reason: Reason = ""  # type: ignore[valid-type]


class RepoOut(Out):
    """`spent_today_usd`: completed and failed attempts since 00:00 UTC; `budget_share`
    spent / budget (null without one); `budget_reached`: its new tasks wait."""

    name: str
    url: str
    default_branch: str
    priority: int
    paused: bool
    paused_by: str | None
    paused_reason: str | None
    paused_at: int | None
    daily_budget_usd: float | None
    spent_today_usd: float
    budget_share: float | None
    budget_reached: bool
    updated_by: str
    updated_at: int


class RepoChangedOut(RepoOut):
    changed: bool


class RepoListOut(Out):
    repos: list[RepoOut]


class BudgetIn(Strict):
    """The fleet's daily budget in dollars; null returns to the setting's default."""

    daily_budget_usd: Budget | None
    reason: Reason = ""  # type: ignore[valid-type]


class BudgetOut(Out):
    """`is_default`: the setting's value, nobody set one; `day_ends`: ms of 00:00 UTC."""

    daily_budget_usd: float | None
    is_default: bool
    spent_today_usd: float
    budget_share: float | None
    budget_reached: bool
    day_ends: int


class BudgetChangedOut(BudgetOut):
    changed: bool


def _get(name: str) -> Repo:
    repo = Repo.objects.filter(name=name).first()
    if repo is None:
        raise not_found("repo_not_found", f"no repo named {name}", name=name)
    return repo


@router.get("", response={200: RepoListOut, **refusals(401)}, summary="Registered repos")
def repo_list(request: HttpRequest):
    return {"repos": repos.listing(settings.AGENTCOM_LIST_MAX)}


@router.post(
    "",
    response={201: RepoOut, **refusals(*BODY_GUARD, 401, 403, 409, 422)},
    summary="Register a repo",
)
def repo_create(request: HttpRequest, body: RepoIn):
    principal = require_operator(request)
    fields = {key: getattr(body, key) for key in RepoIn.model_fields}
    return Status(201, repos.view(repos.create(actor=principal.actor, **fields)))


@router.get(
    "/{name}", response={200: RepoOut, **refusals(401, 404, 422)}, summary="One registered repo"
)
def repo_detail(request: HttpRequest, name: RepoSlug):
    return repos.view(_get(name))


@router.patch(
    "/{name}",
    response={200: RepoOut, **refusals(*BODY_GUARD, 401, 403, 404, 422)},
    summary="Change a repo's url, default branch, priority or daily budget",
)
def repo_update(request: HttpRequest, name: RepoSlug, body: RepoChangeIn):
    principal = require_operator(request)
    # Read off the model, not dumped: the budget is a Decimal in a float-typed field.
    changes: dict[str, Any] = {
        key: getattr(body, key)
        for key in body.model_fields_set
        if getattr(body, key) is not None or key == "daily_budget_usd"
    }
    return repos.view(repos.update(actor=principal.actor, name=name, changes=changes))


def _paused(request: HttpRequest, name: str, body: PauseRepoIn | None, *, pause: bool):
    principal: Principal = require_operator(request)
    reason = (body or PauseRepoIn()).reason
    service = repos.pause if pause else repos.resume
    repo, changed = service(actor=principal.actor, name=name, reason=reason)
    return {**repos.view(repo), "changed": changed}


@router.post(
    "/{name}/pause",
    response={200: RepoChangedOut, **refusals(*BODY_GUARD, 401, 403, 404, 422)},
    summary="Pause a repo: its queued tasks wait; held ones go on",
)
def repo_pause(request: HttpRequest, name: RepoSlug, body: PauseRepoIn | None = None):
    return _paused(request, name, body, pause=True)


@router.post(
    "/{name}/resume",
    response={200: RepoChangedOut, **refusals(*BODY_GUARD, 401, 403, 404, 422)},
    summary="Resume a repo; schedules at once",
)
def repo_resume(request: HttpRequest, name: RepoSlug, body: PauseRepoIn | None = None):
    return _paused(request, name, body, pause=False)


@budget_router.get(
    "", response={200: BudgetOut, **refusals(401)}, summary="The fleet's daily budget"
)
def budget(request: HttpRequest):
    return repos.fleet_view()


@budget_router.put(
    "",
    response={200: BudgetChangedOut, **refusals(*BODY_GUARD, 401, 403, 422)},
    summary="Set the fleet's daily budget (null: the setting's default)",
)
def set_budget(request: HttpRequest, body: BudgetIn):
    principal = require_operator(request)
    amount = body.daily_budget_usd
    shown = "default" if amount is None else f"{amount.normalize():f} USD"
    changed = budgets.set_fleet_budget(
        actor=principal.actor, budget=amount, reason=body.reason or f"daily budget {shown}"
    )
    return {**repos.fleet_view(), "changed": changed}
