"""The invariants a chaos run is judged by, as pure functions over what the run left behind.

Inputs are the hub's audit trail (every `TaskEvent` row, read from the run's database),
the final task states, and the fake agents' execution logs (one `<task_id> <generation>`
line per wake, per agent). Each check returns figures and a list of violations, one
sentence each; a run passes when no check reports a violation.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field

FINAL = frozenset({"completed", "dead_letter", "cancelled"})
# Events that end an agent's hold on a task (PROTOCOL.md §3.1).
RELEASES = frozenset({"completed", "reclaimed", "rejected", "retry", "dead_letter", "cancelled"})
# Events that move a task back to the queue and so raise its generation.
REQUEUES = frozenset({"reclaimed", "rejected", "retry"})
# Faults after which a holder may lose its task to the reconnect grace or the timers.
DISCONNECTING = frozenset(
    {"hub_kill", "sidecar_kill", "sidecar_stop", "cut_past_grace", "half_open", "slow_link"}
)


@dataclass
class Event:
    id: int
    task_id: str
    seq: int
    event: str
    agent_id: str
    reason: str
    generation: int


@dataclass
class Verdict:
    figures: dict = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)


def by_task(events: list[Event]) -> dict[str, list[Event]]:
    out: dict[str, list[Event]] = defaultdict(list)
    for event in sorted(events, key=lambda e: (e.task_id, e.seq)):
        out[event.task_id].append(event)
    return out


def bouncing(events: list[Event], times: int = 3) -> set[str]:
    """Tasks whose last `times` assignments all went to one agent, each ended by a
    `stuck` reclaim from that agent: a loop that only a change of agent could end."""
    out = set()
    for task_id, history in by_task(events).items():
        tail = [e for e in history if e.event == "assigned" or e.event == "reclaimed"]
        tail = tail[-2 * times :]
        holders = {e.agent_id for e in tail}
        reclaims = [e for e in tail if e.event == "reclaimed"]
        if (
            len(reclaims) >= times
            and len(holders) == 1
            and all(e.reason == "stuck" for e in reclaims)
        ):
            out.add(task_id)
    return out


def check_final(statuses: dict[str, str]) -> Verdict:
    lost = sorted(t for t, s in statuses.items() if s not in FINAL)
    verdict = Verdict({"lost": len(lost)})
    verdict.violations += [f"{t} ended {statuses[t]}, not final" for t in lost]
    return verdict


def check_completed_once(events: list[Event]) -> Verdict:
    completed = Counter(e.task_id for e in events if e.event == "completed")
    twice = sorted(t for t, n in completed.items() if n > 1)
    verdict = Verdict({"completed_twice": len(twice)})
    verdict.violations += [f"{t} completed {completed[t]} times" for t in twice]
    return verdict


def check_generations(events: list[Event]) -> Verdict:
    """Never lower along a history; each assignment and each requeue raises it."""
    verdict = Verdict()
    for task_id, history in by_task(events).items():
        previous: Event | None = None
        for event in history:
            if previous is not None:
                raises = event.event == "assigned" or event.event in REQUEUES
                if event.generation < previous.generation or (
                    raises and event.generation <= previous.generation
                ):
                    verdict.violations.append(
                        f"{task_id}: {event.event} at generation {event.generation} after "
                        f"{previous.event} at {previous.generation}"
                    )
            previous = event
    return verdict


def check_one_task_per_agent(events: list[Event]) -> Verdict:
    """From the assigned and release events in commit order (the agent row lock orders
    an agent's events, so their ids follow it)."""
    verdict = Verdict()
    held: dict[str, str | None] = defaultdict(lambda: None)
    for event in sorted(events, key=lambda e: e.id):
        if not event.agent_id:
            continue
        if event.event == "assigned":
            if held[event.agent_id] is not None:
                verdict.violations.append(
                    f"{event.agent_id} got {event.task_id} while holding {held[event.agent_id]}"
                )
            held[event.agent_id] = event.task_id
        elif event.event in RELEASES and held[event.agent_id] == event.task_id:
            held[event.agent_id] = None
    return verdict


def check_executions(
    events: list[Event],
    executions: dict[str, list[tuple[str, int]]],
    faults: list[dict],
) -> Verdict:
    """Every wake matches an assignment; every second wake of a task is explained.

    A wake after the task's previous holder reported failure (`retry`) or refused it
    (`rejected`) is ordinary work, not a double execution. A double execution is a wake
    while an earlier wake of the task was never settled by its agent: explained when the
    hub took the task back with a reclaim (by the reconnect grace after a disconnecting
    fault, or by a timer), or when a sidecar woke its agent again under the same
    generation after a restart of the sidecar or a kill of the agent (a wake retry);
    anything else is unexplained.
    """
    assigned = {(e.task_id, e.agent_id, e.generation) for e in events if e.event == "assigned"}
    ended = assignment_ends(events)
    disturbed = {f["target"] for f in faults if f["kind"] in DISCONNECTING} | (
        {"*"} if any(f["kind"] in ("hub_kill", "redis_restart") for f in faults) else set()
    )
    restarted = {f["target"] for f in faults if f["kind"] == "sidecar_kill"}
    agent_killed = {f["target"] for f in faults if f["kind"] == "agent_kill"}

    verdict = Verdict()
    reasons: Counter[str] = Counter()
    runs_of: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for agent_id, lines in executions.items():
        for task_id, generation in lines:
            runs_of[task_id].append((agent_id, generation))
            if (task_id, agent_id, generation) not in assigned:
                verdict.violations.append(
                    f"{agent_id} ran {task_id} at generation {generation} without that assignment"
                )
    doubles = explained = 0
    for task_id, runs in runs_of.items():
        runs.sort(key=lambda run: run[1])
        for (agent_id, generation), (later_agent, later_generation) in itertools.pairwise(runs):
            if generation == later_generation:
                doubles += 1
                if agent_id == later_agent and agent_id in restarted:
                    explained += 1
                    reasons["rewoken after a sidecar restart"] += 1
                elif agent_id == later_agent and agent_id in agent_killed:
                    explained += 1  # the sidecar's wake retry after its agent died
                    reasons["rewoken after its agent was killed"] += 1
                else:
                    verdict.violations.append(
                        f"{task_id} generation {generation} ran on {agent_id} and {later_agent}"
                    )
                continue
            end = ended.get((task_id, generation))
            if end is not None and end.event in ("retry", "rejected"):
                continue  # settled by its agent before the next wake
            doubles += 1
            if end is not None and end.event == "reclaimed":
                cause = _reclaim_cause(end, agent_id, disturbed)
                if cause is not None:
                    explained += 1
                    reasons[cause] += 1
                    continue
            what = f"{end.event} ({end.reason})" if end else "no release"
            verdict.violations.append(
                f"{task_id} ran on {agent_id} (generation {generation}) and again on "
                f"{later_agent} (generation {later_generation}) after {what}"
            )
    verdict.figures = {
        "executions": sum(len(lines) for lines in executions.values()),
        "double_executions": doubles,
        "double_explained": explained,
        "double_reasons": dict(reasons),
    }
    return verdict


def _reclaim_cause(end: Event, agent_id: str, disturbed: set[str]) -> str | None:
    if end.reason == "agent_disconnect" and (agent_id in disturbed or "*" in disturbed):
        return "reclaimed past the reconnect grace"
    if end.reason == "stuck":
        return "reclaimed as stuck (agent silent)"
    if end.reason == "acceptance_timeout":
        return "reclaimed by the acceptance timer"
    if end.reason == "stale_state_report":
        return "reclaimed on a stale state report"
    return None


def assignment_ends(events: list[Event]) -> dict[tuple[str, int], Event]:
    """(task, generation of an assignment) -> the event that ended it.

    Keyed by the assignment's generation because a requeue records the raised one.
    """
    ends: dict[tuple[str, int], Event] = {}
    for history in by_task(events).values():
        current: int | None = None
        for event in history:
            if event.event == "assigned":
                current = event.generation
            elif event.event in RELEASES and current is not None:
                ends[(event.task_id, current)] = event
                current = None
    return ends


def check_stopped_holders(
    events: list[Event], dropped: dict[str, set[str]], slots: dict[str, list[str]]
) -> Verdict:
    """A holder that lost its task past the grace is told to stop when it returns.

    At the end no sidecar may still hold a task (every task is final); `dropped` is, per
    agent, the tasks its sidecar logged as dropped on the hub's word.
    """
    verdict = Verdict()
    past_grace = [(e.agent_id, e.task_id) for e in events if e.reason == "agent_disconnect"]
    told = sum(1 for agent_id, task_id in past_grace if task_id in dropped.get(agent_id, set()))
    verdict.figures = {"reclaimed_past_grace": len(past_grace), "told_to_stop": told}
    for agent_id, held in slots.items():
        verdict.violations += [f"{agent_id}'s sidecar still holds {t} at the end" for t in held]
    return verdict


def check_presence(online: set[str], connected: set[str]) -> Verdict:
    ghosts = sorted(online - connected)
    verdict = Verdict({"online_without_socket": len(ghosts)})
    verdict.violations += [f"{a} is online at the hub with no open socket" for a in ghosts]
    return verdict


def judge(
    statuses: dict[str, str],
    events: list[Event],
    executions: dict[str, list[tuple[str, int]]],
    faults: list[dict],
    dropped: dict[str, set[str]],
    slots: dict[str, list[str]],
    online: set[str],
    connected: set[str],
) -> Verdict:
    """Every check of a finished run, merged."""
    total = Verdict()
    for part in (
        check_final(statuses),
        check_completed_once(events),
        check_generations(events),
        check_one_task_per_agent(events),
        check_executions(events, executions, faults),
        check_stopped_holders(events, dropped, slots),
        check_presence(online, connected),
    ):
        total.figures.update(part.figures)
        total.violations += part.violations
    return total
