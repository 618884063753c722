"""The scheduler: match queued tasks to idle agents and claim them (PROTOCOL.md §3.5).

Scheduling runs when something changed, never on a fixed poll, and right where the
change committed: a task that became schedulable looks for the longest-idle fitting
agent (`place_task`), an agent that became idle takes the first task it fits
(`feed_agent`). Broader changes (dependencies released, the sweep) ask the scheduler
loop for a full pass (`request_pass`); triggers that arrive during a pass coalesce into
one more pass.

A pass reads the idle agents once, asks the database only for tasks that some idle
agent can take (by capability key and pin), walks them in queue order and claims each
match with `queue.assign_task`, which is atomic across processes. Its queries follow
indexes and stop once the idle agents are served, so a pass costs the same whether
ten tasks are queued or a hundred thousand.
"""

import asyncio
import functools
import heapq
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any, NamedTuple, TypeVar

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connection

from agentcom_site.core import metrics, transport
from agentcom_site.core.clock import now_ms
from agentcom_site.core.events import Event, EventKind, subscribe
from agentcom_site.core.rows import values as fixed_rows
from agents.models import Agent, AgentState
from tasks import budgets, flow, queue
from tasks.models import CAPABILITY_SEPARATOR
from tasks.selectors import (
    any_queued,
    eligible_page,
    eligible_queued,
    queued_capability_keys,
    queued_pinned_agent_pks,
)

log = logging.getLogger(__name__)

SCHEDULE_CHANNEL = "agentcom.schedule"
# A pass asked for at a backoff's end runs this much after it (clock steps, rounding);
# no delayed pass is put further off than the longest backoff could need.
BACKOFF_MARGIN_S = 0.05
MAX_DELAYED_PASS_S = 3600.0
CHUNK = 256
# Placing one task usually takes the first idle agent: with thousands idle, reading
# (and decoding the capabilities of) 256 rows to use one cost more than the claim.
IDLE_CHUNK = 16


# --- whether this process assigns -------------------------------------------------------


class _Assigning:
    """Whether this process still assigns, and how many placements and passes run now.

    A clean stop closes it and waits for those to end (`stop_assigning`): from then on
    every claim this process made is committed and its `task_assign` handed over, so the
    frame can leave before the sockets are told goodbye. A claim whose frame could not
    leave would wait out the holder's whole reconnect grace (PROTOCOL.md §3.7)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.open = True
        self.running = 0

    def enter(self) -> bool:
        with self._changed:
            if self.open:
                self.running += 1
            return self.open

    def leave(self) -> None:
        with self._changed:
            self.running -= 1
            self._changed.notify_all()

    def close(self, timeout_s: float) -> bool:
        with self._changed:
            self.open = False
            return self._changed.wait_for(lambda: self.running == 0, timeout_s)

    def reopen(self) -> None:
        with self._changed:
            self.open = True


_assigning = _Assigning()
R = TypeVar("R")


def stop_assigning(timeout_s: float) -> bool:
    """Blocking: no placement or pass starts in this process any more; waits up to
    `timeout_s` for those under way. False if some were still running then."""
    return _assigning.close(timeout_s)


def resume_assigning() -> None:
    _assigning.reopen()


def _while_assigning(nothing: R) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Runs the function while this process assigns; else returns `nothing` at once."""

    def wrap(func: Callable[..., R]) -> Callable[..., R]:
        @functools.wraps(func)
        def guarded(*args: Any, **kwargs: Any) -> R:
            if not _assigning.enter():
                return nothing
            try:
                return func(*args, **kwargs)
            finally:
                _assigning.leave()

        return guarded

    return wrap


# --- matching ------------------------------------------------------------------------


@dataclass
class Candidate:
    pk: int
    agent_id: str
    capabilities: frozenset[str]


def _fits(needed: frozenset[str], agent: Candidate) -> bool:
    return needed <= agent.capabilities


def _needed(key: str) -> frozenset[str]:
    return frozenset(key.split(CAPABILITY_SEPARATOR)) if key else frozenset()


def _idle_in_order(agent_pk: int | None = None, agent_id: str | None = None) -> Iterator[Candidate]:
    """Idle, reachable, not busy, not draining agents (all, or the one named), longest
    idle first."""
    # Fixed SQL (core/rows.py): every placement and every freed agent asks.
    where = '"state" = %s AND "busy" = %s AND "draining" = %s AND "channel_name" <> \'\''
    params: list = [AgentState.IDLE, False, False]
    if agent_pk is not None:
        where, params = f'{where} AND "id" = %s', [*params, agent_pk]
    if agent_id is not None:
        where, params = f'{where} AND "agent_id" = %s', [*params, agent_id]
    columns = ("id", "agent_id", "capabilities")
    found = fixed_rows(Agent, columns, where, params, order='"idle_since", "id"', chunk=IDLE_CHUNK)
    for pk, name, capabilities in found:
        yield Candidate(pk, name, frozenset(capabilities))


def _others_can_take(needed: frozenset[str], rejecters: set[str]) -> bool:
    """Is a connected agent that has not rejected the task able to take it (§3.5)?
    A draining agent will not, so it does not count."""
    connected = (
        Agent.objects.exclude(state=AgentState.OFFLINE)
        .exclude(channel_name="")
        .filter(draining=False)
    )
    return any(
        agent_id not in rejecters and needed <= set(capabilities)
        for agent_id, capabilities in connected.values_list("agent_id", "capabilities")
    )


def _held_off(held_off: dict[str, list[int]] | None) -> set[str]:
    """Agents that rejected the task and may not have it again yet (their backoff)."""
    if not held_off:
        return set()
    moment = now_ms()
    return {agent_id for agent_id, (_, until) in held_off.items() if until > moment}


def _pick(
    needed: frozenset[str],
    rejected_by: list[str],
    pinned_pk: int | None,
    idle: Iterable[Candidate],
    held_off: dict[str, list[int]] | None = None,
) -> Candidate | None:
    """The longest-idle fitting agent. Agents that rejected the task are passed over
    while another capable agent is connected; once all have rejected, that lapses,
    but never before an agent's backoff for the task has run out."""
    waiting = _held_off(held_off)
    if pinned_pk is not None:
        agent = next((a for a in idle if a.pk == pinned_pk), None)
        return None if agent is None or agent.agent_id in waiting else agent
    rejecters = set(rejected_by)
    first_rejecter = None
    for agent in idle:
        if not _fits(needed, agent):
            continue
        if agent.agent_id not in rejecters:
            return agent
        if agent.agent_id not in waiting:
            first_rejecter = first_rejecter or agent
    if first_rejecter is not None and not _others_can_take(needed, rejecters):
        return first_rejecter
    return None


@_while_assigning(False)
def place_task(task_id: str, placement: queue.Placement | None = None) -> bool:
    """A task just became schedulable: give it to the best idle agent, if one fits.

    `placement` comes with the announcement when its transaction already knew the task
    eligible; otherwise the row is read. The claim re-checks under lock that the task
    is still queued.
    """
    idle = _idle_in_order()
    longest_idle = next(idle, None)
    if longest_idle is None:
        return False  # a saturated fleet: the next agent to become idle feeds itself
    if placement is None:
        row = (
            eligible_queued()
            .filter(pk=task_id)
            .values_list("capability_key", "rejected_by", "pinned_to_id", "held_off")
            .first()
        )
        if row is None:
            return False
        placement = queue.Placement(*row)
    key, rejected_by, pinned_pk, held_off = placement
    candidates = _idle_in_order(pinned_pk) if pinned_pk else chain([longest_idle], idle)
    agent = _pick(_needed(key), rejected_by, pinned_pk, candidates, held_off)
    if agent is None:
        return False
    try:
        queue.assign_task(task_id, agent.pk)
    except flow.Withheld:
        return False  # paused or capped: a resume, or a freed slot, asks for a pass
    except queue.ClaimLost:
        # Another process claimed that agent (or the task) first: a full pass finds
        # the next match instead of leaving the task to the sweep.
        request_pass()
        return False
    return True


def feed_agent(agent_id: str) -> bool:
    """An agent just became idle: give it the first queued task it can take."""
    return schedule_pass(agent_id=agent_id) > 0


@_while_assigning(0)
def schedule_pass(*, agent_pk: int | None = None, agent_id: str | None = None) -> int:
    """Match queued tasks to idle agents (all, or one); returns how many were assigned."""
    started = time.perf_counter()
    assigned = _match(agent_pk, agent_id)
    metrics.scheduler_pass(time.perf_counter() - started)
    return assigned


def _match(agent_pk: int | None, agent_id: str | None) -> int:
    if not any_queued():
        return 0
    idle = list(_idle_in_order(agent_pk, agent_id))
    if not idle:
        return 0
    gate = flow.read_gate()
    if gate.held_by_budget():
        request_day_turn_pass()
    if gate.withholds_all():
        return 0
    assigned = 0
    lost_claim = False
    for candidate in _candidates(idle, gate):
        needed = _needed(candidate.capability_key)
        if not gate.admits(needed, candidate.submitted_by, candidate.repo):
            continue
        agent = _pick(
            _needed(candidate.capability_key),
            candidate.rejected_by,
            candidate.pinned_to_id,
            idle,
            candidate.held_off,
        )
        if agent is None:
            continue
        try:
            queue.assign_task(candidate.id, agent.pk)
        except flow.Withheld as refusal:
            gate.learn(refusal)  # the rules changed since the pass read them
            continue
        except queue.ClaimLost:
            lost_claim = True
        else:
            assigned += 1
            gate.took(needed, candidate.submitted_by)
        idle.remove(agent)  # claimed now, or taken by another process meanwhile
        if not idle:
            break
    if lost_claim:
        # Another process took the task (the agent may still be idle) or the agent
        # (the task may still be queued): one more pass matches what is left.
        request_pass()
    return assigned


class TaskCandidate(NamedTuple):
    """A queued task as a pass reads it; the first three fields are the queue order."""

    priority: int
    created_at: datetime
    id: str
    capability_key: str
    rejected_by: list[str]
    pinned_to_id: int | None
    held_off: dict[str, list[int]]
    submitted_by: str
    repo: str


def _candidates(idle: list[Candidate], gate: flow.Gate) -> Iterator[TaskCandidate]:
    """Eligible tasks that some agent in `idle` may take, in queue order.

    One stream per queued capability key, and one per idle agent with pinned tasks.
    Each is read a page at a time along an index and the streams are merged here, so
    no query reads more of the queue than the pass goes through. A key that is paused
    or at its cap has no stream (or its stream stops once the cap fills), and each page
    leaves out the submitters at their cap, so withheld work is not walked.
    """
    # No stream can hand out more tasks than there are idle agents.
    first = min(len(idle), CHUNK)
    streams = [
        _pages({"capability_key": key}, gate, first, _wanted(key, idle, gate))
        for key in queued_capability_keys()
    ]
    # Pinned agents are asked apart from their tasks: with an ORDER BY and an IN list
    # together, SQLite would walk the whole queue in order instead of the pinned index.
    pinned = queued_pinned_agent_pks([agent.pk for agent in idle])
    streams += [
        _pages({"pinned_pk": agent.pk}, gate, first, _still_idle(agent, idle))
        for agent in idle
        if agent.pk in pinned
    ]
    return heapq.merge(*streams)


def _wanted(key: str, idle: list[Candidate], gate: flow.Gate) -> Callable[[], bool]:
    needed = _needed(key)
    return lambda: gate.admits_key(needed) and any(_fits(needed, agent) for agent in idle)


def _still_idle(agent: Candidate, idle: list[Candidate]) -> Callable[[], bool]:
    return lambda: agent in idle


def _pages(
    stream: dict, gate: flow.Gate, size: int, wanted: Callable[[], bool]
) -> Iterator[TaskCandidate]:
    """One stream's tasks (`selectors.eligible_page`) a page at a time, for as long as
    `wanted()` says an idle agent may still take one; pages double up to CHUNK. Each
    page leaves out the submitters at their cap and the held repos, as the gate knows
    them then."""
    last = None
    while wanted():
        window = eligible_page(
            **stream,
            leave_out=gate.full_submitters(),
            leave_out_repos=sorted(gate.repo_holds),
            after=last,
            size=size,
        )
        page = [TaskCandidate._make(row) for row in window]
        yield from page
        if len(page) < size:
            return
        last = page[-1][:3]
        size = min(2 * size, CHUNK)


# --- triggers ------------------------------------------------------------------------


class SchedulerLoop:
    """Runs passes on this event loop whenever a trigger arrives, coalescing bursts."""

    def __init__(self) -> None:
        self.wakeup = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.passes = 0
        self.assigned = 0
        self._tasks: list[asyncio.Task] = []
        self._stopping = False

    def request(self) -> None:
        """Thread-safe: ask for a pass soon."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.wakeup.set)

    def request_in(self, seconds: float) -> None:
        """Thread-safe: ask for a pass once `seconds` have passed (a backoff ending)."""
        if self.loop is not None and not self.loop.is_closed():
            delay = min(max(seconds, 0.0), MAX_DELAYED_PASS_S)
            self.loop.call_soon_threadsafe(self.loop.call_later, delay, self.wakeup.set)

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._tasks.append(self.loop.create_task(self._run()))
        if not isinstance(get_channel_layer(), InMemoryChannelLayer):
            self._tasks.append(self.loop.create_task(self._listen()))
        elif connection.vendor == "sqlite":
            self._tasks.append(self.loop.create_task(self._watch_foreign_writes()))
        self.wakeup.set()  # one pass at start picks up whatever is waiting

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping:
            await self.wakeup.wait()
            self.wakeup.clear()
            try:
                count = await database_sync_to_async(_pass_with_fresh_connection)()
            except Exception:
                log.exception("scheduling pass failed; retrying on the next trigger")
                await asyncio.sleep(0.5)
                self.wakeup.set()
                continue
            self.passes += 1
            self.assigned += count

    async def _watch_foreign_writes(self) -> None:
        """Embedded mode: a command or another process cannot reach this loop over the
        in-memory layer, so notice their commits instead. SQLite's data_version changes
        when a connection other than the one asking commits. The watcher keeps its own
        connection (Django's may be closed between uses, which restarts the count), so
        this process's own commits wake it too: at most one coalesced pass per check."""
        watcher = sqlite3.connect(settings.DATABASES["default"]["NAME"], timeout=1)
        try:
            seen = None
            while not self._stopping:
                await asyncio.sleep(settings.AGENTCOM_FOREIGN_WRITE_CHECK_S)
                try:  # a read of the file header under WAL: it never waits for a writer
                    version = watcher.execute("PRAGMA data_version").fetchone()[0]
                except sqlite3.Error:
                    log.exception("could not read the database's data_version")
                    continue
                if seen is not None and version != seen:
                    self.wakeup.set()
                seen = version
        finally:
            watcher.close()

    async def _listen(self) -> None:
        """Scaled mode: triggers from other processes arrive on a shared channel."""
        layer = get_channel_layer()
        while not self._stopping:
            try:
                message = await layer.receive(SCHEDULE_CHANNEL)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler trigger channel failed")
                await asyncio.sleep(1)
                continue
            delay = message.get("in_s")
            if isinstance(delay, int | float) and delay > 0:
                self.request_in(delay)
            else:
                self.wakeup.set()


def _pass_with_fresh_connection() -> int:
    close_old_connections()
    return schedule_pass()


_local: SchedulerLoop | None = None


def install_local_loop() -> SchedulerLoop:
    global _local
    _local = SchedulerLoop()
    _local.start()
    return _local


def uninstall_local_loop() -> None:
    global _local
    _local = None


def request_pass() -> None:
    """Ask for a scheduling pass here and, in scaled mode, in the scheduler workers."""
    if _local is not None:
        _local.request()
    if not isinstance(get_channel_layer(), InMemoryChannelLayer):
        transport.to_socket(SCHEDULE_CHANNEL, {"type": "schedule"})


def request_pass_at(moment_ms: int) -> None:
    """Ask for a pass when a task's reject backoff ends: nothing else changes then, so
    without it the task would wait for the next event or sweep."""
    seconds = (moment_ms - now_ms()) / 1000 + BACKOFF_MARGIN_S
    if _local is not None:
        _local.request_in(seconds)
    if not isinstance(get_channel_layer(), InMemoryChannelLayer):
        transport.to_socket(SCHEDULE_CHANNEL, {"type": "schedule", "in_s": seconds})


# When the pass asked for at the next day's turn is due (ms); 0: none asked for.
_day_turn_pass_due_ms = 0


def request_day_turn_pass() -> None:
    """A budget holds work back: ask for a pass when the UTC day turns and spend starts
    from nothing. Asked once per turn (a delayed pass is capped at MAX_DELAYED_PASS_S,
    so a far turn is asked for again by the pass that runs then)."""
    global _day_turn_pass_due_ms
    moment = now_ms()
    if moment < _day_turn_pass_due_ms:
        return
    turn = budgets.next_day_start_ms()
    _day_turn_pass_due_ms = min(turn, moment + int(MAX_DELAYED_PASS_S * 1000))
    request_pass_at(turn)


PLACE_ON = {"task_submitted", "task_requeued", "task_retried", "task_reclaimed", "task_rejected"}
# A held task let go: under a WIP cap, a task waiting on that cap may go to any idle agent.
FREES_SLOT = {
    "task_completed",
    "task_cancelled",
    "task_dead_letter",
    "task_retried",
    "task_reclaimed",
    "task_rejected",
}


def on_event(event: Event) -> None:
    """Schedule right where the change committed, for just what changed.

    A new or requeued task looks for an agent; a newly idle agent looks for a task.
    Anything broader (dependencies released, a resume or a cap change, a slot freed
    under a WIP cap, a failed attempt here) asks for a full pass, which the scheduler
    loop coalesces.
    """
    if event.kind == EventKind.DISPATCH_CHANGED:
        request_pass()
        return
    if not transport.delivers_from_here():
        # A command on the in-memory layer could assign but never tell the agent;
        # leave it to the hub (its next sweep runs a pass).
        request_pass()
        return
    try:
        if event.kind in PLACE_ON and event.task_id:
            place_task(event.task_id, event.data.get("placement"))
        if event.kind == EventKind.TASK_REJECTED and event.data.get("held_off_until_ms"):
            request_pass_at(event.data["held_off_until_ms"])
        elif event.kind == EventKind.AGENT_IDLE and event.agent_id:
            feed_agent(event.agent_id)
        released = event.kind == EventKind.TASK_COMPLETED and event.data.get("released")
        if released or (event.kind in FREES_SLOT and flow.caps_in_force()):
            request_pass()
    except Exception:
        log.exception("inline scheduling after %s failed; asking for a full pass", event.kind)
        request_pass()


def connect_listeners() -> None:
    subscribe(on_event)
