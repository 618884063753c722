"""Rate limits: a token bucket per principal and budget (PROTOCOL.md §1 "Rate limits").

A principal (an agent, an operator, or the client address of an anonymous request)
has one bucket per budget: `default` pays for requests and frames by the weight of
their action, `lifecycle` pays for the task frames an agent sends often (progress,
wake results), `join` counts failed join keys. A bucket holds up to `capacity`
tokens and gains `refill_per_s` a second; an action is admitted when the bucket
holds its weight, and an action heavier than the whole bucket needs a full one.

With REDIS_URL set every hub process shares the buckets through one Lua script (a
read, refill and take that no other process can interleave, timed by Redis' clock so
the processes' clocks need not agree); otherwise they live in this process' memory.
Weight 0 never touches a bucket: pings and the task frames the protocol requires
(accept, complete, fail, reject, recover) cost nothing, so no traffic starves them.
"""

import logging
import threading
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings

from agentcom_site.core import metrics
from agentcom_site.core.errors import HubError

log = logging.getLogger(__name__)

# Actions and the setting holding each one's weight (PROTOCOL.md §1).
READ = "read"
MESSAGE = "message"
BROADCAST = "broadcast"
PUBLISH = "publish"
SUBMIT = "submit"
REGISTER = "register"
PROGRESS = "progress"
JOIN_FAILURE = "join_failure"

DEFAULT = "default"
LIFECYCLE = "lifecycle"
JOIN = "join"

BUDGET_OF = {PROGRESS: LIFECYCLE, JOIN_FAILURE: JOIN}


@dataclass(frozen=True)
class Budget:
    capacity: float
    refill_per_s: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: float
    capacity: float
    retry_after_ms: int  # 0 when allowed
    warn: bool  # this action took the bucket below the warning level
    budget: str = DEFAULT

    def warning_frame(self) -> dict[str, Any]:
        return {
            "type": "rate_limit_warning",
            "budget": self.budget,
            "remaining": int(self.remaining),
            "capacity": int(self.capacity),
            "detail": f"{int(self.remaining)} of {int(self.capacity)} left in the "
            f"{self.budget} rate budget; slow down or actions will be refused",
        }


ALLOWED = Decision(True, 0, 0, 0, False)


class RateLimited(HubError):
    """Refused for the rate: nothing changed; retry after `retry_after_ms`."""

    def __init__(self, decision: Decision) -> None:
        metrics.rate_limited(decision.budget)
        super().__init__(
            "rate_limited",
            f"too many requests: the {decision.budget} rate budget is spent; "
            f"retry in {decision.retry_after_ms} ms",
            http_status=429,
            retry_after_ms=decision.retry_after_ms,
        )
        self.retry_after_ms = decision.retry_after_ms


def weight(action: str) -> int:
    return settings.AGENTCOM_RATE_WEIGHTS[action]


def budget_for(budget: str, *, operator: bool = False) -> Budget | None:
    """The budget of a principal kind, or None when it is exempt."""
    capacity, refill = settings.AGENTCOM_RATE_BUDGETS[budget]
    if operator:
        factor = settings.AGENTCOM_RATE_OPERATOR_FACTOR
        if factor <= 0:
            return None
        capacity, refill = capacity * factor, refill * factor
    return Budget(float(capacity), float(refill))


def _settle(
    tokens: float, cost: float, budget: Budget, warn_level: float
) -> tuple[bool, float, int, bool]:
    """The bucket after an attempt: (allowed, tokens left, retry after ms, warn)."""
    need = min(cost, budget.capacity)
    if tokens >= need:
        left = tokens - need
        return True, left, 0, tokens >= warn_level > left
    wait_s = (need - tokens) / budget.refill_per_s if budget.refill_per_s > 0 else 3600.0
    return False, tokens, max(1, int(wait_s * 1000 + 0.999)), False


# --- process memory -------------------------------------------------------------------------


class MemoryBuckets:
    """Buckets in this process. Full buckets are forgotten, so memory follows the
    principals that were busy lately, not every address that ever called."""

    SWEEP_ABOVE = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()  # HTTP runs on the database thread, frames on the loop
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str, cost: float, budget: Budget, warn_level: float):
        moment = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (budget.capacity, moment))
            tokens = min(budget.capacity, tokens + (moment - at) * budget.refill_per_s)
            allowed, left, retry_ms, warn = _settle(tokens, cost, budget, warn_level)
            self._buckets[key] = (left, moment)
            if len(self._buckets) > self.SWEEP_ABOVE:
                self._forget_full(moment)
        return allowed, left, retry_ms, warn

    def _forget_full(self, moment: float) -> None:
        # Only reached past SWEEP_ABOVE keys; a bucket idle for a minute is refilled
        # under every default budget, and a fresh bucket starts full anyway.
        stale = [k for k, (_, at) in self._buckets.items() if moment - at > 60]
        for key in stale:
            del self._buckets[key]

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()


# --- Redis ---------------------------------------------------------------------------------

# KEYS[1] bucket; ARGV capacity, refill/s, cost, warn level, ttl ms.
# Returns {allowed, tokens left * 1000, retry after ms, warn}.
TAKE_SCRIPT = """
local capacity = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local need = math.min(tonumber(ARGV[3]), capacity)
local warn_level = tonumber(ARGV[4])
local clock = redis.call('TIME')
local moment = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = moment
end
tokens = math.min(capacity, tokens + math.max(0, moment - at) * refill)
local allowed, retry, warn = 0, 0, 0
if tokens >= need then
  local left = tokens - need
  if tokens >= warn_level and left < warn_level then warn = 1 end
  tokens = left
  allowed = 1
elseif refill > 0 then
  retry = math.max(1, math.ceil((need - tokens) / refill * 1000))
else
  retry = 3600000
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(moment))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
return {allowed, math.floor(tokens * 1000), retry, warn}
"""


def _ttl_ms(budget: Budget) -> int:
    """A bucket untouched until it is full again carries no information: let it expire."""
    if budget.refill_per_s <= 0:
        return 3_600_000
    return int(budget.capacity / budget.refill_per_s * 1000) + 1000


def _redis_args(cost: float, budget: Budget, warn_level: float) -> list[Any]:
    return [budget.capacity, budget.refill_per_s, cost, warn_level, _ttl_ms(budget)]


def _from_redis(reply: list[Any]) -> tuple[bool, float, int, bool]:
    allowed, milli_tokens, retry_ms, warn = (int(v) for v in reply)
    return bool(allowed), milli_tokens / 1000, retry_ms, bool(warn)


@cache
def _sync_script():
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    return client.register_script(TAKE_SCRIPT)


_async_scripts: dict[int, Any] = {}


def _async_script():
    """One asyncio client per event loop: redis.asyncio connections belong to a loop."""
    import asyncio

    import redis.asyncio

    loop_id = id(asyncio.get_running_loop())
    script = _async_scripts.get(loop_id)
    if script is None:
        client = redis.asyncio.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
        script = _async_scripts[loop_id] = client.register_script(TAKE_SCRIPT)
    return script


memory = MemoryBuckets()


def _key(principal_key: str, budget: str) -> str:
    return f"{settings.AGENTCOM_RATE_PREFIX}:{budget}:{principal_key}"


def _prepare(action: str, units: int, operator: bool) -> tuple[str, float, Budget] | None:
    if not settings.AGENTCOM_RATE_LIMITS:
        return None
    cost = weight(action) * units
    if cost <= 0:
        return None
    budget_name = BUDGET_OF.get(action, DEFAULT)
    budget = budget_for(budget_name, operator=operator)
    if budget is None:
        return None
    return budget_name, cost, budget


@dataclass(frozen=True)
class _Charge:
    """One action about to be charged: which bucket, what it costs, where it is kept."""

    budget_name: str
    budget: Budget
    cost: int
    key: str
    warn_level: float

    @property
    def redis_args(self) -> list:
        return _redis_args(self.cost, self.budget, self.warn_level)

    def decided(self, outcome: tuple[bool, float, int, bool]) -> Decision:
        allowed, left, retry_ms, warn = outcome
        return Decision(allowed, left, self.budget.capacity, retry_ms, warn, self.budget_name)

    def in_memory(self) -> Decision:
        return self.decided(memory.take(self.key, self.cost, self.budget, self.warn_level))


def _charge_for(principal_key: str, action: str, units: int, operator: bool) -> _Charge | None:
    prepared = _prepare(action, units, operator)
    if prepared is None:
        return None
    budget_name, cost, budget = prepared
    level = budget.capacity * (1 - settings.AGENTCOM_RATE_WARN_AT)
    return _Charge(budget_name, budget, cost, _key(principal_key, budget_name), level)


def _store_down(principal_key: str) -> Decision:
    # Limits protect the hub; an outage of their store must not stop the work.
    log.exception("rate limit store unreachable; admitting %s", principal_key)
    return ALLOWED


def take(principal_key: str, action: str, *, units: int = 1, operator: bool = False) -> Decision:
    """Charge `action` to the principal's bucket (blocking; for the HTTP thread)."""
    charge_ = _charge_for(principal_key, action, units, operator)
    if charge_ is None:
        return ALLOWED
    if not settings.REDIS_URL:
        return charge_.in_memory()
    try:
        reply = _sync_script()(keys=[charge_.key], args=charge_.redis_args)
    except Exception:
        return _store_down(principal_key)
    return charge_.decided(_from_redis(reply))


async def take_async(
    principal_key: str, action: str, *, units: int = 1, operator: bool = False
) -> Decision:
    """Charge `action` without blocking the event loop (for socket frames)."""
    charge_ = _charge_for(principal_key, action, units, operator)
    if charge_ is None:
        return ALLOWED
    if not settings.REDIS_URL:
        return charge_.in_memory()
    try:
        reply = await _async_script()(keys=[charge_.key], args=charge_.redis_args)
    except Exception:
        return _store_down(principal_key)
    return charge_.decided(_from_redis(reply))


def charge(principal_key: str, action: str, *, units: int = 1, operator: bool = False) -> None:
    """Charge `action`; raise `RateLimited` (429, nothing changed) when the bucket is short."""
    decision = take(principal_key, action, units=units, operator=operator)
    if not decision.allowed:
        raise RateLimited(decision)


def peek_blocked(principal_key: str, action: str) -> Decision | None:
    """Whether the next `action` would be refused, without spending anything: a refusal
    Decision, or None. For counters that are charged only when something fails."""
    charge_ = _charge_for(principal_key, action, 1, False)
    if charge_ is None:
        return None
    if settings.REDIS_URL:
        try:
            reply = _sync_script()(keys=[charge_.key], args=_redis_args(0, charge_.budget, -1))
        except Exception:
            log.exception("rate limit store unreachable; admitting %s", principal_key)
            return None
        tokens = _from_redis(reply)[1]
    else:
        tokens = memory.take(charge_.key, 0, charge_.budget, -1)[1]
    outcome = _settle(tokens, charge_.cost, charge_.budget, -1)
    return None if outcome[0] else charge_.decided(outcome)


def principal_key(kind: str, name: str) -> str:
    """`agent:<id>`, `operator:<name>` or `addr:<client address>`."""
    return f"{kind}:{name}"
