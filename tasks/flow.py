"""Flow control: paused dispatch and WIP caps, placement rules beside capability fit.

- `pause`, `resume`, `set_cap`: operator services. Each writes a `FlowChange` audit row
  in its transaction and announces `dispatch_changed` after commit, which asks every
  scheduler for a pass (a resume or a looser cap takes effect at once, by event).
- `admit_locked(task)`: the authoritative check, inside the claim's transaction
  (`queue.assign_task`). Caps are counted under a lock per cap, so concurrent claims in
  any number of processes never hold more than the cap: on Postgres a transaction-level
  advisory lock per (scope, key), taken in sorted order; on SQLite the claim's
  `BEGIN IMMEDIATE` already serialises every claim.
- `Gate`: the same rules as one pass reads them (pauses, caps and held counts), kept
  current as the pass claims, so a pass skips withheld work in its queries instead of
  trying each claim. `tasks.explain` reads the same gate.

A pause or cap row is the whole truth: nothing lives in process memory.
"""

import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction

from agentcom_site.core import rows
from agentcom_site.core.errors import HubError
from agentcom_site.core.events import EventKind, announce
from tasks import repos
from tasks.models import (
    CAPABILITY_SEPARATOR,
    HELD,
    DispatchPause,
    FlowChange,
    FlowScope,
    Task,
    WipCap,
)

ALL = ""  # the pause of everything: DispatchPause.capability
CHANGES_SHOWN = 20
PAUSES_SHOWN = 100


class Withheld(HubError):
    """The claim would break a flow rule: dispatch is paused, or a WIP cap is reached."""

    def __init__(self, reason: str, scope: str, key: str, **extra: Any) -> None:
        what = "everything" if scope == FlowScope.ALL else f"{scope} {key!r}"
        super().__init__(
            "dispatch_withheld",
            f"dispatch withheld ({reason}) for {what}",
            http_status=409,
            reason=reason,
            scope=scope,
            key=key,
            **extra,
        )
        self.reason = reason
        self.scope = scope
        self.key = key


def needed_of(capability_key: str) -> frozenset[str]:
    return frozenset(capability_key.split(CAPABILITY_SEPARATOR)) if capability_key else frozenset()


class Limit(NamedTuple):
    scope: str
    key: str
    limit: int


def default_limit(scope: str) -> int:
    """The cap for a key with no row of its own; 0 means unlimited."""
    if scope == FlowScope.CAPABILITY:
        return settings.AGENTCOM_WIP_CAP_PER_CAPABILITY
    return settings.AGENTCOM_WIP_CAP_PER_SUBMITTER


def caps_in_force() -> bool:
    """Is any cap set (a default or a row)? Freed slots then call for a full pass."""
    return bool(
        default_limit(FlowScope.CAPABILITY)
        or default_limit(FlowScope.SUBMITTER)
        or next(rows.values(WipCap, ("id",), limit=1), None)
    )


def limits_for(needed: Iterable[str], submitted_by: str) -> list[Limit]:
    """The caps that bind a task: a row where one exists, else the default; sorted."""
    needed = sorted(set(needed))
    # Fixed SQL: every claim asks (rows.values); the IN list is left out when empty.
    where, params = '"scope" = %s AND "key" = %s', [FlowScope.SUBMITTER, submitted_by]
    if needed:
        where = f'("scope" = %s AND "key" IN ({", ".join(["%s"] * len(needed))})) OR ({where})'
        params = [FlowScope.CAPABILITY, *needed, *params]
    found = rows.values(WipCap, ("scope", "key", "limit"), where, params)
    explicit = {(scope, key): limit for scope, key, limit in found}
    wanted = [(FlowScope.CAPABILITY, name) for name in needed]
    wanted.append((FlowScope.SUBMITTER, submitted_by))
    limits = []
    for scope, key in wanted:
        limit = explicit.get((scope, key), default_limit(scope))
        if limit:
            limits.append(Limit(str(scope), key, limit))
    return sorted(limits)


def held_count(scope: str, key: str) -> int:
    """Tasks held now that count against the cap (scope, key)."""
    held = Task.objects.filter(status__in=HELD)
    if scope == FlowScope.SUBMITTER:
        return held.filter(submitted_by=key).count()
    # Held tasks are at most one per agent: counting their keys here is cheaper and
    # exact, where LIKE on SQLite would ignore the case of a capability.
    return sum(1 for k in held.values_list("capability_key", flat=True) if key in needed_of(k))


# The advisory lock namespace of WIP caps. Two caps whose names hash alike share a lock:
# their claims then wait for each other, which costs time, never correctness.
LOCK_SPACE = 0x41C0


def _lock_cap(limit: Limit) -> None:
    """Serialise the claims under one cap until their transactions end (Postgres)."""
    if connection.vendor == "postgresql":
        rows.fetch_one(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            [LOCK_SPACE, _signed32(zlib.crc32(f"{limit.scope}:{limit.key}".encode()))],
        )


def _signed32(value: int) -> int:
    return value - 2**32 if value >= 2**31 else value


def paused_for(needed: Iterable[str]) -> str | None:
    """The pause that stops a task needing `needed`: ALL, a capability, or None."""
    names = [ALL, *needed]
    where = f'"capability" IN ({", ".join(["%s"] * len(names))})'
    found = rows.values(DispatchPause, ("capability",), where, names, order='"capability"', limit=1)
    return next((capability for (capability,) in found), None)


def admit_locked(task: Task) -> None:
    """Raise Withheld unless the task may be claimed now (call inside the claim's
    transaction, before anything changes)."""
    needed = needed_of(task.capability_key)
    paused = paused_for(needed)
    if paused is not None:
        scope = FlowScope.ALL if paused == ALL else FlowScope.CAPABILITY
        raise Withheld("paused", scope, paused)
    # A budget is not counted under a lock: claims racing at its edge may start a task
    # or two past it, which the next claim sees. Spend happens later anyway.
    hold = repos.hold_for(task.repo) if task.repo else None
    if hold is not None:
        raise Withheld(hold.reason, FlowScope.REPO, hold.repo)
    fleet = repos.fleet_hold()
    if fleet is not None:
        raise Withheld(fleet.reason, FlowScope.ALL, ALL)
    for limit in limits_for(needed, task.submitted_by):
        _lock_cap(limit)
        held = held_count(limit.scope, limit.key)
        if held >= limit.limit:
            raise Withheld("wip_cap", limit.scope, limit.key, limit=limit.limit, held=held)


# --- what a pass (and an explanation) reads once ---------------------------------------


@dataclass
class Gate:
    """Pauses and caps as one pass sees them, with held counts it keeps current."""

    paused_all: bool = False
    paused: frozenset[str] = frozenset()
    cap_limits: dict[str, int] = field(default_factory=dict)
    submitter_limits: dict[str, int] = field(default_factory=dict)
    default_cap: int = 0
    default_submitter: int = 0
    held_by_capability: Counter = field(default_factory=Counter)
    held_by_submitter: Counter = field(default_factory=Counter)
    # Repos (by name and by URL) whose tasks wait, and the fleet's budget (tasks.repos).
    repo_holds: dict[str, repos.Hold] = field(default_factory=dict)
    fleet_hold: repos.Hold | None = None

    def repo_hold(self, repo: str) -> repos.Hold | None:
        return self.repo_holds.get(repo) if repo else None

    def withholds_all(self) -> bool:
        """Nothing is placed: all dispatch paused, or the fleet's budget reached."""
        return self.paused_all or self.fleet_hold is not None

    def held_by_budget(self) -> bool:
        """Does a budget hold work back? Then the day's turn releases it."""
        return self.fleet_hold is not None or any(h.by_budget for h in self.repo_holds.values())

    def limit(self, scope: str, key: str) -> int:
        if scope == FlowScope.CAPABILITY:
            return self.cap_limits.get(key, self.default_cap)
        return self.submitter_limits.get(key, self.default_submitter)

    def held(self, scope: str, key: str) -> int:
        counts = (
            self.held_by_capability if scope == FlowScope.CAPABILITY else self.held_by_submitter
        )
        return counts[key]

    def pause_for(self, needed: frozenset[str]) -> str | None:
        if self.paused_all:
            return ALL
        hit = sorted(needed & self.paused)
        return hit[0] if hit else None

    def full(self, needed: frozenset[str], submitted_by: str | None) -> list[Limit]:
        """The caps that a task needing `needed` from `submitted_by` would exceed."""
        wanted = [(FlowScope.CAPABILITY, name) for name in sorted(needed)]
        if submitted_by is not None:
            wanted.append((FlowScope.SUBMITTER, submitted_by))
        found = []
        for scope, key in wanted:
            limit = self.limit(scope, key)
            if limit and self.held(scope, key) >= limit:
                found.append(Limit(str(scope), key, limit))
        return found

    def admits_key(self, needed: frozenset[str]) -> bool:
        return (
            self.fleet_hold is None
            and self.pause_for(needed) is None
            and not self.full(needed, None)
        )

    def admits(self, needed: frozenset[str], submitted_by: str, repo: str = "") -> bool:
        return (
            self.admits_key(needed)
            and self.repo_hold(repo) is None
            and not self.full(needed, submitted_by)
        )

    def full_submitters(self) -> list[str]:
        return [s for s, n in self.held_by_submitter.items() if n >= self.limit("submitter", s) > 0]

    def took(self, needed: frozenset[str], submitted_by: str) -> None:
        for name in needed:
            self.held_by_capability[name] += 1
        self.held_by_submitter[submitted_by] += 1

    def learn(self, refusal: Withheld) -> None:
        """A claim found the rules stricter than this gate read: remember it."""
        if refusal.reason in ("repo_paused", "repo_budget"):
            self.repo_holds = {
                **self.repo_holds,
                refusal.key: repos.Hold(refusal.reason, refusal.key, ""),
            }
        elif refusal.reason == "fleet_budget":
            self.fleet_hold = repos.Hold(refusal.reason, "", "")
        elif refusal.reason == "paused":
            if refusal.scope == FlowScope.ALL:
                self.paused_all = True
            else:
                self.paused = self.paused | {refusal.key}
        elif refusal.scope == FlowScope.CAPABILITY:
            self.cap_limits[refusal.key] = max(1, refusal.extra.get("limit", 1))
            self.held_by_capability[refusal.key] = max(
                self.held_by_capability[refusal.key], refusal.extra.get("held", 0)
            )
        else:
            self.submitter_limits[refusal.key] = max(1, refusal.extra.get("limit", 1))
            self.held_by_submitter[refusal.key] = max(
                self.held_by_submitter[refusal.key], refusal.extra.get("held", 0)
            )


def read_gate() -> Gate:
    """A few small reads (pauses, caps, repo holds), and one of the held tasks only when
    a cap is set."""
    paused = {capability for (capability,) in rows.values(DispatchPause, ("capability",))}
    repo_holds, fleet_hold = repos.holds()
    gate = Gate(
        paused_all=ALL in paused,
        paused=frozenset(paused - {ALL}),
        default_cap=default_limit(FlowScope.CAPABILITY),
        default_submitter=default_limit(FlowScope.SUBMITTER),
        repo_holds=repo_holds,
        fleet_hold=fleet_hold,
    )
    for scope, key, limit in rows.values(WipCap, ("scope", "key", "limit")):
        target = gate.cap_limits if scope == FlowScope.CAPABILITY else gate.submitter_limits
        target[key] = limit
    if gate.cap_limits or gate.submitter_limits or gate.default_cap or gate.default_submitter:
        for key, submitter in Task.objects.filter(status__in=HELD).values_list(
            "capability_key", "submitted_by"
        ):
            gate.took(needed_of(key), submitter)
    return gate


# --- operator services -----------------------------------------------------------------


def _audit(
    action: str, scope: str, key: str, actor: str, reason: str, limit: int | None = None
) -> None:
    FlowChange.objects.create(
        action=action, scope=scope, key=key, limit=limit, actor=actor, reason=reason
    )
    announce(EventKind.DISPATCH_CHANGED, action=action, scope=scope, key=key)


def pause(*, actor: str, capability: str | None = None, reason: str = "") -> bool:
    """Pause dispatch (of everything, or of tasks needing `capability`). Held work goes
    on. Returns False, and records nothing, when it was already paused."""
    key = capability or ALL
    scope = FlowScope.CAPABILITY if key else FlowScope.ALL
    with transaction.atomic():
        _, created = DispatchPause.objects.get_or_create(
            capability=key, defaults={"paused_by": actor, "reason": reason}
        )
        if created:
            _audit("paused", scope, key, actor, reason)
    return created


def resume(*, actor: str, capability: str | None = None, reason: str = "") -> bool:
    """Lift a pause; every scheduler runs a pass after commit. False if it was not paused."""
    key = capability or ALL
    scope = FlowScope.CAPABILITY if key else FlowScope.ALL
    with transaction.atomic():
        removed, _ = DispatchPause.objects.filter(capability=key).delete()
        if removed:
            _audit("resumed", scope, key, actor, reason)
    return bool(removed)


def set_cap(*, actor: str, scope: str, key: str, limit: int | None, reason: str = "") -> bool:
    """Set (or with None remove) the WIP cap of (scope, key). Returns whether it changed."""
    with transaction.atomic():
        if limit is None:
            removed, _ = WipCap.objects.filter(scope=scope, key=key).delete()
            if removed:
                _audit("cap_removed", scope, key, actor, reason)
            return bool(removed)
        row = WipCap.objects.select_for_update().filter(scope=scope, key=key).first()
        if row is not None and row.limit == limit:
            return False
        WipCap.objects.update_or_create(
            scope=scope, key=key, defaults={"limit": limit, "set_by": actor}
        )
        _audit("cap_set", scope, key, actor, reason, limit=limit)
    return True


def dispatch_state() -> dict[str, Any]:
    """What `GET /api/dispatch` and the dashboard show: pauses, caps with held counts,
    the defaults, and the last changes."""
    gate = read_gate()
    pauses = list(DispatchPause.objects.all()[:PAUSES_SHOWN])
    caps = list(WipCap.objects.all()[: settings.AGENTCOM_LIST_MAX])
    return {
        "paused": gate.paused_all,
        "paused_capabilities": sorted(gate.paused)[:PAUSES_SHOWN],
        "pauses": [
            {
                "capability": p.capability or None,
                "paused_by": p.paused_by,
                "paused_at": p.paused_at,
                "reason": p.reason,
            }
            for p in pauses
        ],
        "caps": [
            {
                "scope": c.scope,
                "key": c.key,
                "limit": c.limit,
                "held": gate.held(c.scope, c.key),
                "set_by": c.set_by,
                "set_at": c.set_at,
            }
            for c in caps
        ],
        "defaults": {
            "capability": gate.default_cap or None,
            "submitter": gate.default_submitter or None,
        },
        "changes": list(FlowChange.objects.all()[:CHANGES_SHOWN]),
    }


def health_section() -> dict[str, Any]:
    """The dispatch state `/health` shows to anyone: paused or not, and for what."""
    paused = list(DispatchPause.objects.values_list("capability", flat=True)[: PAUSES_SHOWN + 1])
    return {
        "paused": ALL in paused,
        "paused_capabilities": sorted(c for c in paused if c != ALL)[:PAUSES_SHOWN],
    }
