"""What results cost (PROTOCOL.md §3.2, §4.5 "Costs"): the fields a `task_complete` or
`task_failed` may carry, the price table that fills in a missing cost, and the sums over
a range of days.

A completing result's cost fields are stored in columns of the task beside the raw
result. Every reported attempt, completed or failed, is also one `AttemptCost` row
(a failed attempt spends money too), so the sums and the budgets are one aggregate
query over an index on `reported_at`.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import pydantic
from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate
from pydantic import Field, StringConstraints

from agentcom_site.core.limits import COST_USD_MAX, COUNTER_MAX, LIMITS, TOKENS_USED_MAX
from agentcom_site.core.rows import insert_row, new
from agentcom_site.core.validation import Strict
from tasks import repos
from tasks.models import CAPABILITY_SEPARATOR, AttemptCost, AttemptOutcome, Task

Count53 = Annotated[int, Field(ge=0, le=COUNTER_MAX)]
MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$"
SESSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
CENTS = Decimal("0.000001")


class CostIn(Strict):
    """The cost fields of a result, all optional (PROTOCOL.md §3.2)."""

    tokens_in: Count53 | None = None
    tokens_out: Count53 | None = None
    model: (
        Annotated[str, StringConstraints(max_length=LIMITS["model"], pattern=MODEL_PATTERN)] | None
    ) = None
    cost_usd: Annotated[float, Field(ge=0, le=COST_USD_MAX, allow_inf_nan=False)] | None = None
    execution_ms: Count53 | None = None
    iterations: Count53 | None = None
    session_id: (
        Annotated[str, StringConstraints(max_length=LIMITS["session_id"], pattern=SESSION_PATTERN)]
        | None
    ) = None


COST_KEYS = tuple(CostIn.model_fields)


def _from_result(result: dict[str, Any]) -> dict[str, Any]:
    """The cost fields a result object carries inside itself (a sidecar that hands on its
    agent's result file whole): each one kept only if it passes its rule on its own."""
    found = {}
    for key in COST_KEYS:
        if key in result:
            try:
                found[key] = getattr(CostIn.model_validate({key: result[key]}), key)
            except pydantic.ValidationError:
                continue  # a bad figure inside the result is not counted
    return found


def priced(model: str, tokens_in: int | None, tokens_out: int | None) -> Decimal | None:
    """What the tokens cost by AGENTCOM_PRICES, or None (no price, no tokens, absurd sum)."""
    price = settings.AGENTCOM_PRICES.get(model)
    if price is None or (tokens_in is None and tokens_out is None):
        return None
    dollars = (
        Decimal(tokens_in or 0) * Decimal(str(price["in_per_mtok"]))
        + Decimal(tokens_out or 0) * Decimal(str(price["out_per_mtok"]))
    ) / Decimal(1_000_000)
    return dollars.quantize(CENTS) if dollars <= COST_USD_MAX else None


def cost_columns(frame: CostIn | None, result: dict[str, Any]) -> dict[str, Any]:
    """The task's cost columns for a completion: the frame's fields first, then the
    result's own; a cost computed from the price table when the result has none."""
    given = frame.model_dump(exclude_none=True) if frame is not None else {}
    values = {**_from_result(result), **given}
    cost = values.get("cost_usd")
    columns: dict[str, Any] = {
        "tokens_in": values.get("tokens_in"),
        "tokens_out": values.get("tokens_out"),
        "model": values.get("model", ""),
        "cost_usd": Decimal(str(cost)).quantize(CENTS) if cost is not None else None,
        "cost_computed": False,
        "execution_ms": values.get("execution_ms"),
        "iterations": values.get("iterations"),
        "session_id": values.get("session_id", ""),
    }
    if cost is None and columns["model"]:
        columns["cost_usd"] = priced(columns["model"], columns["tokens_in"], columns["tokens_out"])
        columns["cost_computed"] = columns["cost_usd"] is not None
    return columns


def reports_cost(frame: CostIn | None) -> bool:
    """Does the frame carry any cost field (a failure from an older sidecar has none)?"""
    return frame is not None and any(getattr(frame, key) is not None for key in COST_KEYS)


def record_attempt(task: Task, agent_id: str, columns: dict[str, Any], *, completed: bool) -> None:
    """Keep what this attempt of `task` cost (inside the completion's or failure's
    transaction). The repo is counted under its registered name, so a task naming the
    URL and one naming the name share one budget."""
    attempt = new(
        AttemptCost,
        task=task,
        generation=task.generation,
        outcome=AttemptOutcome.COMPLETED if completed else AttemptOutcome.FAILED,
        agent_id=agent_id,
        repo=repos.canonical(task.repo),
        capability_key=task.capability_key,
        **{key: columns[key] for key in ATTEMPT_COLUMNS},
    )
    insert_row(attempt)  # fixed SQL (core/rows.py): every completion writes one


ATTEMPT_COLUMNS = (
    "tokens_in",
    "tokens_out",
    "model",
    "cost_usd",
    "cost_computed",
    "execution_ms",
    "iterations",
)


def tokens_total(columns: dict[str, Any]) -> int | None:
    """`tokens_in + tokens_out`, for a result that reports no `tokens_used` of its own
    (None when it reports neither, or the sum is over TOKENS_USED_MAX)."""
    if columns["tokens_in"] is None and columns["tokens_out"] is None:
        return None
    total = (columns["tokens_in"] or 0) + (columns["tokens_out"] or 0)
    return total if total <= TOKENS_USED_MAX else None


# --- sums ------------------------------------------------------------------------------

GROUPINGS = {
    "agent": F("agent_id"),
    "capability": F("capability_key"),
    "repo": F("repo"),
    "day": TruncDate("reported_at"),
}
GROUPS_MAX = 500


def _key(by: str, value: Any) -> str:
    if by == "day":
        return value.isoformat() if value is not None else ""
    if by == "capability":
        return ", ".join((value or "").split(CAPABILITY_SEPARATOR))
    return value or ""


def _number(value: Any) -> float | int:
    if isinstance(value, Decimal):
        return float(value.quantize(CENTS))
    return value or 0


def sums(by: str, since: datetime, until: datetime) -> dict[str, Any]:
    """Attempts reported in [since, until) summed per `by`, in one aggregate query: most
    expensive first (days in order), at most GROUPS_MAX groups (`truncated` says so).
    `tasks` counts completions, `failed` the failed attempts that reported a cost; the
    sums count both. `key` is "" for attempts without an agent, repo or capability."""
    rows = (
        AttemptCost.objects.filter(reported_at__gte=since, reported_at__lt=until)
        .annotate(group=GROUPINGS[by])
        .values("group")
        .annotate(
            tasks=Count("pk", filter=Q(outcome=AttemptOutcome.COMPLETED)),
            failed=Count("pk", filter=Q(outcome=AttemptOutcome.FAILED)),
            priced=Count("cost_usd"),
            tokens_in=Sum("tokens_in"),
            tokens_out=Sum("tokens_out"),
            cost_usd=Sum("cost_usd"),
            execution_ms=Sum("execution_ms"),
            iterations=Sum("iterations"),
        )
        .order_by(*(["group"] if by == "day" else [F("cost_usd").desc(nulls_last=True), "group"]))
    )[: GROUPS_MAX + 1]
    rows = list(rows)
    groups = [
        {
            "key": _key(by, row["group"]),
            **{name: _number(row[name]) for name in FIGURES},
        }
        for row in rows[:GROUPS_MAX]
    ]
    totals = {name: sum(group[name] for group in groups) for name in FIGURES}
    totals["cost_usd"] = round(totals["cost_usd"], 6)
    return {
        "by": by,
        "since": since,
        "until": until,
        "groups": groups,
        "totals": totals,
        "truncated": len(rows) > GROUPS_MAX,
    }


FIGURES = (
    "tasks",
    "failed",
    "priced",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "execution_ms",
    "iterations",
)


def default_range(now: datetime) -> tuple[datetime, datetime]:
    """The last 7 days up to now."""
    return now - timedelta(days=7), now
