"""The scheduler: match queued tasks to idle agents and claim them (PROTOCOL.md §3.5).

A pass reads the idle agents once, asks the database only for tasks that some idle
agent can take (by capability key and pin), walks them in queue order and claims each
match with `queue.assign_task`, which is atomic across processes. Passes run when
something changed (`request_pass`), never on a fixed poll; triggers that arrive during
a pass coalesce into one more pass.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import close_old_connections
from django.db.models import Q

from agentcom_site.events import Event, subscribe
from agents.models import Agent, AgentState
from tasks import queue
from tasks.models import CAPABILITY_SEPARATOR
from tasks.selectors import eligible_queued

log = logging.getLogger(__name__)

SCHEDULE_CHANNEL = "agentcom.schedule"
TRIGGERS = {
    "task_submitted",
    "task_requeued",
    "task_retried",
    "task_rejected",
    "task_reclaimed",
    "task_cancelled",
    "task_completed",
    "agent_idle",
}
CHUNK = 256


@dataclass
class Candidate:
    pk: int
    agent_id: str
    capabilities: frozenset[str]


def _fits(needed: frozenset[str], agent: Candidate) -> bool:
    return needed <= agent.capabilities


def _needed(key: str) -> frozenset[str]:
    return frozenset(key.split(CAPABILITY_SEPARATOR)) if key else frozenset()


def _pick(
    needed: frozenset[str],
    rejected_by: list[str],
    pinned_pk: int | None,
    idle: list[Candidate],
    connected: list[Candidate],
) -> Candidate | None:
    """The longest-idle fitting agent; rejecters are skipped while another capable
    connected agent exists (§3.5)."""
    if pinned_pk is not None:
        return next((a for a in idle if a.pk == pinned_pk), None)
    fitting = [a for a in idle if _fits(needed, a)]
    if rejected_by and fitting:
        rejecters = set(rejected_by)
        others_exist = any(_fits(needed, a) and a.agent_id not in rejecters for a in connected)
        if others_exist:
            fitting = [a for a in fitting if a.agent_id not in rejecters]
    return fitting[0] if fitting else None


def schedule_pass() -> int:
    """One matching pass; returns how many tasks were assigned."""
    agents = Agent.objects.exclude(state=AgentState.OFFLINE).exclude(channel_name="")
    connected = [
        Candidate(pk, agent_id, frozenset(caps))
        for pk, agent_id, caps in agents.values_list("pk", "agent_id", "capabilities")
    ]
    idle_pks = list(
        agents.filter(state=AgentState.IDLE, busy=False)
        .order_by("idle_since", "pk")
        .values_list("pk", flat=True)
    )
    by_pk = {a.pk: a for a in connected}
    idle = [by_pk[pk] for pk in idle_pks if pk in by_pk]
    if not idle:
        return 0

    queued = eligible_queued()
    keys = set(queued.order_by().values_list("capability_key", flat=True).distinct())
    fitting_keys = [k for k in keys if any(_fits(_needed(k), a) for a in idle)]
    if not fitting_keys:
        return 0
    candidates = queued.filter(capability_key__in=fitting_keys).exclude(
        pinned_to__isnull=False
    ) | queued.filter(pinned_to__in=[a.pk for a in idle])

    assigned = 0
    last: tuple | None = None
    while idle:
        page = candidates.order_by("priority", "created_at", "id")
        if last is not None:
            priority, created_at, task_id = last
            page = page.filter(_after(priority, created_at, task_id))
        rows = list(
            page.values_list(
                "id", "priority", "created_at", "capability_key", "rejected_by", "pinned_to_id"
            )[:CHUNK]
        )
        if not rows:
            break
        for task_id, priority, created_at, key, rejected_by, pinned_pk in rows:
            last = (priority, created_at, task_id)
            agent = _pick(_needed(key), rejected_by, pinned_pk, idle, connected)
            if agent is None:
                continue
            idle.remove(agent)  # claimed now, or taken by another process meanwhile
            if queue.assign_task(task_id, agent.pk) is not None:
                assigned += 1
            if not idle:
                break
        if len(rows) < CHUNK:
            break
    return assigned


def _after(priority: int, created_at: datetime, task_id: str) -> Q:
    """Keyset pagination in queue order: rows strictly after the last one read."""
    return (
        Q(priority__gt=priority)
        | Q(priority=priority, created_at__gt=created_at)
        | Q(priority=priority, created_at=created_at, id__gt=task_id)
    )


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

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._tasks.append(self.loop.create_task(self._run()))
        if not isinstance(get_channel_layer(), InMemoryChannelLayer):
            self._tasks.append(self.loop.create_task(self._listen()))
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

    async def _listen(self) -> None:
        """Scaled mode: triggers from other processes arrive on a shared channel."""
        layer = get_channel_layer()
        while not self._stopping:
            try:
                await layer.receive(SCHEDULE_CHANNEL)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler trigger channel failed")
                await asyncio.sleep(1)
                continue
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
    layer = get_channel_layer()
    if not isinstance(layer, InMemoryChannelLayer):
        try:
            async_to_sync(layer.send)(SCHEDULE_CHANNEL, {"type": "schedule"})
        except ChannelFull:
            pass  # plenty of passes are already pending


def on_event(event: Event) -> None:
    if event.kind in TRIGGERS:
        request_pass()


def connect_listeners() -> None:
    subscribe(on_event)
