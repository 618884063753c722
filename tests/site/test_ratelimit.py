"""The kernel's token buckets: in process memory and through the Redis script."""

import fakeredis
import pytest

from agentcom_site.core import ratelimit
from tests.conftest import RATE_WEIGHTS

BUDGETS = {"default": (10, 1), "lifecycle": (5, 1), "join": (3, 3 / 60)}
WEIGHTS = {**RATE_WEIGHTS, "broadcast": 4}


@pytest.fixture(autouse=True)
def small_budgets(settings):
    settings.REDIS_URL = None  # the buckets in process memory, unless a test says otherwise
    settings.AGENTCOM_RATE_BUDGETS = BUDGETS
    settings.AGENTCOM_RATE_WEIGHTS = WEIGHTS
    settings.AGENTCOM_RATE_OPERATOR_FACTOR = 10
    settings.AGENTCOM_RATE_WARN_AT = 0.8


@pytest.fixture
def clock(monkeypatch):
    """The memory store's monotonic clock, moved by hand."""
    now = [1000.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: now[0])
    return now


def test_a_bucket_admits_its_capacity_then_refuses_with_the_wait(clock):
    decisions = [ratelimit.take("agent:a", "message") for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert decisions[-1].retry_after_ms == 2000  # 2 tokens at 1 a second
    clock[0] += 2
    assert ratelimit.take("agent:a", "message").allowed


def test_the_warning_comes_once_when_the_bucket_falls_below_a_fifth(clock):
    warned = [ratelimit.take("agent:a", "read").warn for _ in range(10)]
    # 10 tokens, warning level 2: the 9th read leaves 1, crossing it once.
    assert warned == [False] * 8 + [True, False]


def test_principals_and_budgets_have_their_own_buckets(clock):
    for _ in range(5):
        ratelimit.take("agent:a", "message")
    assert not ratelimit.take("agent:a", "message").allowed
    assert ratelimit.take("agent:b", "message").allowed
    assert ratelimit.take("agent:a", "progress").allowed  # the lifecycle budget is apart


def test_weight_zero_and_disabled_limits_touch_no_bucket(settings, clock):
    settings.AGENTCOM_RATE_WEIGHTS = {**WEIGHTS, "read": 0}
    assert all(ratelimit.take("agent:a", "read").allowed for _ in range(100))
    settings.AGENTCOM_RATE_WEIGHTS = WEIGHTS
    settings.AGENTCOM_RATE_LIMITS = False
    assert all(ratelimit.take("agent:a", "message").allowed for _ in range(100))


def test_an_action_heavier_than_the_bucket_needs_a_full_one(clock):
    first = ratelimit.take("addr:1.2.3.4", "register")  # 20 > capacity 10
    assert first.allowed and first.remaining == 0
    second = ratelimit.take("addr:1.2.3.4", "register")
    assert not second.allowed and second.retry_after_ms == 10_000


def test_operators_get_ten_times_the_budget_or_none(settings, clock):
    assert (
        sum(ratelimit.take("operator:ops", "read", operator=True).allowed for _ in range(120))
        == 100
    )
    settings.AGENTCOM_RATE_OPERATOR_FACTOR = 0
    assert all(ratelimit.take("operator:ops", "read", operator=True).allowed for _ in range(500))


def test_charge_raises_a_429_with_the_wait(clock):
    for _ in range(5):
        ratelimit.charge("agent:a", "message")
    with pytest.raises(ratelimit.RateLimited) as refused:
        ratelimit.charge("agent:a", "message")
    assert refused.value.http_status == 429
    assert refused.value.as_dict()["error"] == "rate_limited"
    assert refused.value.as_dict()["retry_after_ms"] == 2000


def test_peek_spends_nothing(clock):
    for _ in range(3):
        assert ratelimit.peek_blocked("addr:x", "join_failure") is None
    for _ in range(3):
        ratelimit.take("addr:x", "join_failure")
    blocked = ratelimit.peek_blocked("addr:x", "join_failure")
    assert blocked is not None and blocked.retry_after_ms == 20_000


# --- the Redis script: shared by every hub process --------------------------------------------


@pytest.fixture
def redis_server(settings, monkeypatch):
    """Two hub processes' clients on one Redis (fakeredis runs the real Lua script)."""
    settings.REDIS_URL = "redis://fake"
    server = fakeredis.FakeServer()
    clients = [fakeredis.FakeRedis(server=server) for _ in range(2)]
    current = {"client": clients[0]}
    monkeypatch.setattr(
        ratelimit, "_sync_script", lambda: current["client"].register_script(ratelimit.TAKE_SCRIPT)
    )
    return current, clients


def test_redis_buckets_are_shared_between_processes(redis_server):
    current, (first, second) = redis_server
    allowed = []
    for i in range(6):
        current["client"] = first if i % 2 else second
        allowed.append(ratelimit.take("agent:a", "message").allowed)
    assert allowed == [True] * 5 + [False]
    refused = ratelimit.take("agent:a", "message")
    assert 1900 <= refused.retry_after_ms <= 2000
    assert 0 < first.pttl(ratelimit._key("agent:a", "default")) <= 11_000  # full again: gone


def test_redis_script_warns_once_and_needs_a_full_bucket_for_heavy_actions(redis_server):
    warned = [ratelimit.take("agent:a", "read").warn for _ in range(10)]
    assert warned == [False] * 8 + [True, False]
    assert ratelimit.take("addr:h", "register").allowed
    assert not ratelimit.take("addr:h", "register").allowed


async def test_an_unreachable_store_admits(settings, monkeypatch):
    settings.REDIS_URL = "redis://127.0.0.1:1"  # nothing listens there
    decision = await ratelimit.take_async("agent:a", "message")
    assert decision.allowed
