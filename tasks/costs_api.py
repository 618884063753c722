"""`GET /api/costs` (PROTOCOL.md §4.5 "Costs"): what reported attempts cost, for operators."""

from datetime import timedelta
from typing import Literal

from django.conf import settings
from django.http import HttpRequest
from ninja import Query, Router, Schema

from agentcom_site.core.auth import operator_auth
from agentcom_site.core.clock import from_ms, now, to_ms
from agentcom_site.core.errors import invalid
from agentcom_site.core.schemas import Out, refusals
from agentcom_site.core.validation import TimeMs
from tasks import costs

router = Router(tags=["tasks"], auth=operator_auth)


class CostsQuery(Schema):
    """`since` and `until` in ms since the epoch; by default the last 7 days."""

    by: Literal["agent", "capability", "day", "repo"] = "day"
    since: TimeMs | None = None
    until: TimeMs | None = None


class CostFiguresOut(Out):
    """`tasks` completed and `failed` attempts that reported a cost, `priced` of all
    those with a cost; sums over both (0 when none)."""

    tasks: int
    failed: int
    priced: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    execution_ms: int
    iterations: int


class _KeyOut(Out):
    key: str


class CostGroupOut(CostFiguresOut, _KeyOut):
    """`key` (first): the agent id, repo, capabilities (", "-joined) or UTC day
    (YYYY-MM-DD); "" for tasks without one."""


class CostsOut(Out):
    """Groups most expensive first (days in order); at most 500 (`truncated` says more
    exist, and the totals then count only those listed)."""

    by: str
    since: int
    until: int
    groups: list[CostGroupOut]
    totals: CostFiguresOut
    truncated: bool


@router.get(
    "",
    response={200: CostsOut, **refusals(401, 403, 422)},
    summary="What attempts cost (completed and failed), per agent, capability, repo or day",
)
def cost_sums(request: HttpRequest, filters: Query[CostsQuery]):
    start, end = costs.default_range(now())
    if filters.until is not None:
        end = from_ms(filters.until)
    if filters.since is not None:
        start = from_ms(filters.since)
    elif filters.until is not None:
        start = end - timedelta(days=7)
    longest = settings.AGENTCOM_COSTS_MAX_DAYS
    if start >= end:
        raise invalid("since", "invalid_value", "since must be before until")
    if end - start > timedelta(days=longest):
        raise invalid("since", "out_of_range", f"the range may span at most {longest} days")
    answer = costs.sums(filters.by, start, end)
    return {**answer, "since": to_ms(start), "until": to_ms(end)}
