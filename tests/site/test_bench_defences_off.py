"""bench/defences_off.py: the benches' switch really takes the defences out of the hub's
path, and puts every one of them back."""

import pytest

from agentcom_site.core import metrics
from agentcom_site.core.clock import now
from agentcom_site.core.limits import JSON_MAX_DEPTH
from agents.models import OperatorToken
from bench import defences_off

pytestmark = pytest.mark.django_db


@pytest.fixture
def switched_off():
    defences_off.apply()
    yield
    defences_off.restore()


def http_requests_counted() -> float:
    return sum(
        sample.value
        for family in metrics.HTTP_REQUESTS.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    )


def probe(api_for, ops) -> dict[str, int]:
    """What the hub answers to what each defence refuses (small budgets: 10 reads)."""
    alpha = api_for("alpha")
    reads = [alpha.get("/api/agents")[0] for _ in range(12)]
    nested: list = []
    for _ in range(JSON_MAX_DEPTH + 8):
        nested = [nested]
    counted = http_requests_counted()
    deep, _ = ops.post("/api/tasks", {"description": "deep", "ignored": nested})
    requests_counted = http_requests_counted() - counted
    OperatorToken.objects.update(revoked_at=now())
    after_revoke, _ = ops.get("/api/tasks/stats")
    return {
        "reads refused": reads.count(429),
        "deep body": deep,
        "requests counted": requests_counted,
        "after revoke": after_revoke,
    }


def test_with_the_defences_off_the_hub_takes_what_they_refuse(
    switched_off, small_rate_budgets, api_for, ops
):
    ops.get("/api/tasks/stats")  # the operator token is read once, before it is revoked
    assert probe(api_for, ops) == {
        "reads refused": 0,
        "deep body": 201,
        "requests counted": 0,
        "after revoke": 200,
    }


def test_restore_puts_every_defence_back(small_rate_budgets, api_for, ops):
    defences_off.apply()
    defences_off.restore()
    ops.get("/api/tasks/stats")
    assert probe(api_for, ops) == {
        "reads refused": 2,
        "deep body": 422,
        "requests counted": 1,
        "after revoke": 401,
    }
