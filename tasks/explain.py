"""Why a task is not running: `GET /api/tasks/<id>/explain` (PROTOCOL.md §4.5).

`read(task)` takes a small snapshot (the task, the flow gate, the registered agents);
`reasons(snapshot)` is a pure function of it that applies the scheduler's own rules in
the scheduler's order: eligibility (`selectors.eligible_queued`), the flow gate
(`tasks.flow`: pauses, a paused repo or a reached budget, WIP caps), then the agent
choice of `scheduler._pick` (fit, connected, not draining, idle; rejecters passed over
while another capable agent is connected, and never before their backoff ends). A
task with no blocking reason is `dispatching`: the next pass takes it. Every list in
the details is bounded.

There is no scheduled start on a task, so `not_before` is never given.
"""

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from agentcom_site.core.clock import now, now_ms, to_ms
from agents.models import Agent, AgentState
from tasks import flow
from tasks.holders import RESERVED
from tasks.models import HELD, Task, TaskStatus

SHOWN = 10  # agents, dependencies or caps named in one reason's details
AGENTS_READ = 10_000  # registered agents one explanation reads at most


@dataclass(frozen=True)
class AgentView:
    agent_id: str
    capabilities: frozenset[str]
    state: str
    connected: bool  # online with a live socket: counts as "another capable agent"
    busy: bool
    draining: bool
    holding: str | None = None

    @property
    def free(self) -> bool:
        """What `scheduler._idle_in_order` would offer a task to."""
        return (
            self.connected
            and self.state == AgentState.IDLE
            and not self.busy
            and (not self.draining)
        )


@dataclass(frozen=True)
class Snapshot:
    task_id: str
    status: str
    needed: frozenset[str]
    submitted_by: str
    gate: flow.Gate
    agents: list[AgentView]
    holder: str | None = None
    generation: int = 0
    pinned: str | None = None
    rejected_by: tuple[str, ...] = ()
    held_off: dict[str, list[int]] = field(default_factory=dict)
    waiting_on: int = 0
    dependencies: list[tuple[str, str]] = field(default_factory=list)  # unfinished ones
    deadline_passed: bool = False
    moment_ms: int = 0
    repo: str = ""


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


def _names(agents: list[AgentView]) -> dict[str, Any]:
    return {"agents": [a.agent_id for a in agents[:SHOWN]], "count": len(agents)}


def _listed(agents: list[AgentView]) -> str:
    shown = ", ".join(a.agent_id for a in agents[:SHOWN])
    return shown + (f" and {len(agents) - SHOWN} more" if len(agents) > SHOWN else "")


def reasons(s: Snapshot) -> list[Reason]:
    """Why the task in `s` is where it is; a queued task may have several reasons."""
    if s.status != TaskStatus.QUEUED:
        return [_not_queued(s)]
    found = []
    if s.waiting_on:
        found.append(_dependencies(s))
    if s.deadline_passed:
        found.append(
            Reason("deadline_passed", "its complete_by passed; the sweep moves it to dead letters")
        )
    paused = s.gate.pause_for(s.needed)
    if paused is not None:
        found.append(_paused(paused))
    for hold in (s.gate.repo_hold(s.repo), s.gate.fleet_hold):
        if hold is not None:
            found.append(Reason(hold.reason, hold.message, hold.details))
    full = s.gate.full(s.needed, s.submitted_by)
    if full:
        found.append(_capped(s, full))
    agent_side = _pinned(s) if s.pinned is not None else _unpinned(s)
    if found and agent_side.code == "dispatching":
        return found
    return [*found, agent_side]


def _not_queued(s: Snapshot) -> Reason:
    if s.status in HELD:
        return Reason(
            s.status,
            f"it is held by {s.holder} ({s.status}, generation {s.generation})",
            {"agent_id": s.holder, "generation": s.generation},
        )
    return Reason(s.status, f"it is {s.status.replace('_', ' ')}; nothing will dispatch it")


def _dependencies(s: Snapshot) -> Reason:
    shown = [{"task_id": task_id, "status": status} for task_id, status in s.dependencies[:SHOWN]]
    ids = ", ".join(d["task_id"] for d in shown)
    return Reason(
        "waiting_on_dependencies",
        f"it waits for {s.waiting_on} task(s) to complete: {ids}",
        {"dependencies": shown, "count": s.waiting_on},
    )


def _paused(paused: str) -> Reason:
    if paused == flow.ALL:
        return Reason("paused", "dispatch is paused for all tasks", {"scope": "all"})
    return Reason(
        "paused",
        f"dispatch is paused for tasks that need {paused}",
        {"scope": "capability", "capability": paused},
    )


def _capped(s: Snapshot, full: list[flow.Limit]) -> Reason:
    caps = [
        {"scope": c.scope, "key": c.key, "limit": c.limit, "held": s.gate.held(c.scope, c.key)}
        for c in full[:SHOWN]
    ]
    text = "; ".join(f"{c['scope']} {c['key']} holds {c['held']} of {c['limit']}" for c in caps)
    return Reason("wip_cap", f"a WIP cap is reached: {text}", {"caps": caps})


def _pinned(s: Snapshot) -> Reason:
    agent = next((a for a in s.agents if a.agent_id == s.pinned), None)
    details = {"agent_id": s.pinned}
    if agent is None or not agent.connected:
        return Reason(
            "pinned_agent_offline", f"it is pinned to {s.pinned}, which is offline", details
        )
    if agent.draining:
        return Reason(
            "pinned_agent_draining", f"it is pinned to {s.pinned}, which is draining", details
        )
    if not agent.free:
        return Reason(
            "all_capable_agents_busy",
            f"it is pinned to {s.pinned}, which is {_doing(agent)}",
            {"agents": [_busy_view(agent)], "count": 1},
        )
    if agent.agent_id in _backoff(s):
        return _held_off(s, [agent])
    return _dispatching()


def _unpinned(s: Snapshot) -> Reason:
    capable = [a for a in s.agents if s.needed <= a.capabilities]
    if not capable:
        have = frozenset().union(*(a.capabilities for a in s.agents))
        missing = sorted(s.needed - have)
        if not s.agents:
            message = "no agent is registered"
        elif missing:
            message = f"no registered agent has {', '.join(missing)}"
        else:
            message = f"no single registered agent has all of {', '.join(sorted(s.needed))}"
        return Reason(
            "no_agent_with_capabilities",
            message,
            {"needed": sorted(s.needed), "missing": missing},
        )
    connected = [a for a in capable if a.connected]
    if not connected:
        return Reason(
            "capable_agents_offline",
            f"every agent that can take it is offline: {_listed(capable)}",
            _names(capable),
        )
    active = [a for a in connected if not a.draining]
    if not active:
        return Reason(
            "capable_agents_draining",
            f"every connected agent that can take it is draining: {_listed(connected)}",
            _names(connected),
        )
    rejecters = set(s.rejected_by)
    others = [a for a in active if a.agent_id not in rejecters]
    if others:
        if any(a.free for a in others):
            return _dispatching()
        return Reason(
            "all_capable_agents_busy",
            "every agent that can take it is busy: "
            + "; ".join(f"{a.agent_id} {_doing(a)}" for a in others[:SHOWN]),
            {"agents": [_busy_view(a) for a in others[:SHOWN]], "count": len(others)},
        )
    waiting = _backoff(s)
    if any(a.free and a.agent_id not in waiting for a in active):
        return _dispatching()  # all have rejected it: the rejection lapses (§3.5)
    idle_but_held_off = [a for a in active if a.free]
    if idle_but_held_off:
        return _held_off(s, idle_but_held_off)
    return Reason(
        "rejected_by_all_capable",
        "every connected agent that can take it rejected it and is busy now: "
        + "; ".join(f"{a.agent_id} {_doing(a)}" for a in active[:SHOWN]),
        {"agents": [_busy_view(a) for a in active[:SHOWN]], "count": len(active)},
    )


def _held_off(s: Snapshot, agents: list[AgentView]) -> Reason:
    waiting = _backoff(s)
    views = [
        {
            "agent_id": a.agent_id,
            "until": waiting[a.agent_id],
            "rejections": s.held_off[a.agent_id][0],
        }
        for a in agents[:SHOWN]
    ]
    soonest = min(v["until"] for v in views)
    return Reason(
        "held_off",
        f"it was rejected and is offered again in {max(0, soonest - s.moment_ms) // 1000 + 1} s",
        {"agents": views, "count": len(agents)},
    )


def _backoff(s: Snapshot) -> dict[str, int]:
    return {
        agent_id: until
        for agent_id, (_, until) in (s.held_off or {}).items()
        if until > s.moment_ms
    }


def _doing(agent: AgentView) -> str:
    if agent.holding:
        return f"{agent.state} on {agent.holding}"
    if agent.busy:
        return "flagged busy"
    return agent.state


def _busy_view(agent: AgentView) -> dict[str, Any]:
    return {
        "agent_id": agent.agent_id,
        "state": agent.state,
        "task_id": agent.holding,
        "busy": agent.busy,
    }


def _dispatching() -> Reason:
    return Reason("dispatching", "an idle agent can take it: the next scheduling pass does")


# --- the snapshot ------------------------------------------------------------------------


def read(task: Task) -> Snapshot:
    """The snapshot `reasons` needs, read in a few queries (agents bounded)."""
    base = Snapshot(
        task_id=task.id,
        status=task.status,
        needed=flow.needed_of(task.capability_key),
        submitted_by=task.submitted_by,
        repo=task.repo,
        gate=flow.Gate(),
        agents=[],
        holder=task.holder.agent_id if task.holder_id else None,
        generation=task.generation,
    )
    if task.status != TaskStatus.QUEUED:
        return base
    rows = Agent.objects.values_list(
        "pk", "agent_id", "capabilities", "state", "channel_name", "busy", "draining"
    ).order_by("pk")[:AGENTS_READ]
    rows = list(rows)
    reserved = [pk for pk, _, _, state, *_ in rows if state in (*RESERVED, AgentState.BLOCKED)]
    held = dict(
        Task.objects.filter(status__in=HELD, holder_id__in=reserved).values_list("holder_id", "id")
    )
    agents = [
        AgentView(
            agent_id=agent_id,
            capabilities=frozenset(capabilities or []),
            state=state,
            connected=state != AgentState.OFFLINE and bool(channel),
            busy=busy,
            draining=draining,
            holding=held.get(pk),
        )
        for pk, agent_id, capabilities, state, channel, busy, draining in rows
    ]
    unfinished = list(
        task.depends_on.filter(~Q(status=TaskStatus.COMPLETED))
        .order_by("id")
        .values_list("id", "status")[:SHOWN]
    )
    return Snapshot(
        **{
            **base.__dict__,
            "gate": flow.read_gate(),
            "agents": agents,
            "pinned": task.pinned_to.agent_id if task.pinned_to_id else None,
            "rejected_by": tuple(task.rejected_by or ()),
            "held_off": dict(task.held_off or {}),
            "waiting_on": task.waiting_on,
            "dependencies": unfinished,
            "deadline_passed": task.complete_by is not None and task.complete_by <= now(),
            "moment_ms": now_ms(),
        }
    )


def explain(task: Task) -> dict[str, Any]:
    """The answer of `GET /api/tasks/<id>/explain`."""
    return {
        "task_id": task.id,
        "status": task.status,
        "reasons": [r.as_dict() for r in reasons(read(task))],
        "at": to_ms(now()),
    }
