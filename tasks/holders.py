"""The seam between tasks and the agents that hold them: the only tasks code that moves
an agent's row, and what the agents app learns of held tasks (agents/holdings.py).

- `free` / `works`: what giving up or taking up a task does to its holder, inside the
  task operation's transaction (its lock order: task row, then agent row);
- `status_held_by` and friends: registered with the agents app, which may not import us;
- `lost_holders_tasks`: held tasks whose holder went offline (queue.holder_left and the
  sweep's grace rule start their reconnect grace);
- `idle_reset` and `clear_stale_busy`: the flags' two other ways back to idle.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet

from agentcom_site.core.events import EventKind, announce
from agentcom_site.core.rows import lock_by_pk, save_fields
from agents.models import Agent, AgentState
from tasks.models import HELD, Task, TaskStatus

RESERVED = (AgentState.ASSIGNED, AgentState.WORKING)


def free(agent: Agent | None, *, busy: bool = False, unresponsive: bool = False) -> None:
    """The holder (locked) no longer has its task: idle if it is online, with its flags set."""
    if agent is None:
        return
    if agent.state in RESERVED:
        agent.become_idle()
    agent.set_busy(busy)
    if unresponsive:
        agent.flag_unresponsive()
    save_fields(agent, Agent.LIFECYCLE_FIELDS)
    if agent.state == AgentState.IDLE:
        announce(EventKind.AGENT_IDLE, agent_id=agent.agent_id)


def works(agent: Agent | None) -> None:
    """The holder (locked) is on its task now (accepted or recovered): it responded."""
    if agent is None:
        return
    if agent.state == AgentState.IDLE:
        agent.take_task()
    if agent.state == AgentState.ASSIGNED:
        agent.start_working()
    agent.responded()
    save_fields(agent, Agent.LIFECYCLE_FIELDS)


def idle_reset(agent_pk: int) -> None:
    """After a refused complete/fail (§3.4): an agent holding nothing becomes idle, not busy."""
    with transaction.atomic():
        agent = lock_by_pk(Agent, agent_pk)
        if agent is None or Task.objects.filter(holder=agent, status__in=HELD).exists():
            return
        free(agent)


def clear_stale_busy(cutoff: datetime) -> int:
    """The `busy` flag lapses after the stuck timeout (§3.8); returns how many lapsed."""
    cleared = 0
    for pk in Agent.objects.filter(busy=True, busy_since__lt=cutoff).values_list("pk", flat=True):
        with transaction.atomic():
            agent = lock_by_pk(Agent, pk)
            if agent is None or not agent.busy:
                continue
            agent.set_busy(False)
            agent.save(update_fields=Agent.LIFECYCLE_FIELDS)
            announce(EventKind.AGENT_IDLE, agent_id=agent.agent_id)
            cleared += 1
    return cleared


def lost_holders_tasks() -> QuerySet[Task]:
    """Held tasks whose holder is offline and whose reconnect grace has not started yet."""
    return Task.objects.filter(
        status__in=HELD, holder_lost_at__isnull=True, holder__state=AgentState.OFFLINE
    )


# --- answers for the agents app ----------------------------------------------------------


class TaskHoldings:
    """agents.holdings.Holdings, answered from the task table."""

    def status_held_by(self, agent_pk: int) -> str | None:
        held = Task.objects.filter(holder_id=agent_pk, status__in=HELD)
        status = held.values_list("status", flat=True).first()
        # An agent waiting for an answer is at work on its task, as far as agents go.
        return TaskStatus.WORKING if status == TaskStatus.INPUT_REQUIRED else status

    def tasks_held_by(self, agent_pks: list[int]) -> dict[int, str]:
        held = Task.objects.filter(status__in=HELD, holder_id__in=agent_pks)
        return dict(held.values_list("holder_id", "id"))

    def holder_pks(self) -> QuerySet:
        return Task.objects.filter(status__in=HELD).values("holder_id")
