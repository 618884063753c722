"""Presence: what identify, disconnect and liveness do to agents.

The agent row records the live socket's channel name. A socket only changes presence
while it is the recorded one, so a replaced socket's late disconnect changes nothing.
What becomes of the tasks an agent holds is the tasks app's business (tasks/holders.py),
which listens for `agent_left`.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from agentcom_site.core import rows
from agentcom_site.core.clock import now
from agentcom_site.core.errors import invalid_token
from agentcom_site.core.events import EventKind, announce
from agents import holdings, processes, tokens
from agents.models import Agent, AgentState
from agents.wire import presence


@dataclass(frozen=True)
class Identified:
    agent: Agent
    replaced_channel: str  # the older socket to close with 4000, or ""
    was_online: bool


def identify(
    agent_pk: int,
    *,
    token_pk: int,
    channel_name: str,
    name: str,
    status: str,
    capabilities: list[str],
    features: list[str] | None = None,
) -> Identified:
    """Bind the socket: store what the agent declared; its state follows the task it holds.

    The token (`token_pk`) must still be live once the agent row is locked, the lock a
    revoke takes too (tokens.revoke_agent_tokens), so a token revoked while this identify
    was in flight never ends up bound: raises `invalid_token` and changes nothing.
    Commits before returning; announces `agent_joined` (not on replacement or refresh)
    and `agent_idle` so the scheduler runs.
    """
    with transaction.atomic():
        agent = Agent.objects.select_for_update().get(pk=agent_pk)
        if not tokens.token_is_live(token_pk):
            raise invalid_token()
        previous_channel = agent.channel_name
        was_online = agent.state != AgentState.OFFLINE and bool(previous_channel)
        held = holdings.status_held_by(agent.pk)
        moment = now()
        if previous_channel != channel_name:
            agent.connected_at = moment
            agent.total_connections += 1
        agent.name = name
        agent.status_text = status
        agent.capabilities = capabilities
        agent.features = features or []
        agent.last_seen = moment
        agent.clear_flags()
        agent.come_online(holding=held)
        agent.channel_name = channel_name
        agent.hub_process = processes.PROCESS_ID
        agent.save()
        if not was_online:
            announce(EventKind.AGENT_JOINED, agent_id=agent.agent_id, agent=presence(agent))
        announce(EventKind.AGENT_STATE, agent_id=agent.agent_id, fsm_state=agent.state)
        if agent.state == AgentState.IDLE:
            announce(EventKind.AGENT_IDLE, agent_id=agent.agent_id)
    replaced = previous_channel if previous_channel and previous_channel != channel_name else ""
    return Identified(agent, replaced, was_online)


def disconnect(agent_pk: int, *, channel_name: str, reason: str = "disconnected") -> bool:
    """The socket closed: the agent is offline at once. Commits, then announces `agent_left`
    (its held tasks then keep the reconnect grace or are reclaimed: tasks/holders.py).

    Returns False (and changes nothing) when `channel_name` is no longer the agent's
    live socket, i.e. it was replaced by a newer connection.
    """
    with transaction.atomic():
        agent = Agent.objects.select_for_update().filter(pk=agent_pk).first()
        if agent is None or agent.channel_name != channel_name:
            return False
        agent.go_offline()
        agent.save()
        announce(EventKind.AGENT_LEFT, agent_id=agent.agent_id, reason=reason)
        announce(EventKind.AGENT_STATE, agent_id=agent.agent_id, fsm_state=agent.state)
    return True


def update_status(agent_pk: int, status: str) -> Agent:
    with transaction.atomic():
        agent = Agent.objects.select_for_update().get(pk=agent_pk)
        agent.status_text = status
        agent.last_seen = now()
        agent.save(update_fields=["status_text", "last_seen"])
        announce(EventKind.STATUS_CHANGED, agent_id=agent.agent_id, agent=presence(agent))
    return agent


def touch(agent_pks: list[int]) -> None:
    """Refresh `last_seen` for sockets this process saw frames from (one fixed UPDATE)."""
    rows.set_by_pks(Agent, "last_seen", now(), agent_pks)


def reset_all_offline() -> int:
    """Embedded hub start: no socket survived the restart, so nobody is connected.

    A bulk update is deliberate here: it is the one moment the FSM has no live
    sockets to reconcile, and the held tasks' grace starts in the sweep that follows.
    """
    return Agent.objects.exclude(state=AgentState.OFFLINE).update(
        state=AgentState.OFFLINE, channel_name="", idle_since=None, last_state_change=now()
    )


def expire_silent_agents() -> list[str]:
    """Scaled mode: agents whose process died without a disconnect go offline.

    Live sockets refresh `last_seen` several times per ping TTL, so three TTLs of
    silence means the hub process holding the socket is gone.
    """
    cutoff = now() - timedelta(seconds=3 * settings.AGENTCOM_PING_TTL_S)
    gone = []
    for agent in Agent.objects.exclude(state=AgentState.OFFLINE).filter(last_seen__lt=cutoff):
        if disconnect(agent.pk, channel_name=agent.channel_name, reason="silent"):
            gone.append(agent.agent_id)
    return gone


def release_orphans() -> list[str]:
    """Agents online through a hub process that stopped beating go offline (any mode).

    Their sockets died with the process, so no disconnect ran for them. Each goes
    through `disconnect`, which changes nothing if the agent has meanwhile identified
    on another socket.
    """
    orphans = list(
        Agent.objects.exclude(state=AgentState.OFFLINE)
        .exclude(hub_process="")
        .exclude(hub_process__in=processes.live())
        .values_list("pk", "agent_id", "channel_name")
    )
    gone = [
        agent_id
        for pk, agent_id, channel_name in orphans
        if disconnect(pk, channel_name=channel_name, reason="hub_process_gone")
    ]
    processes.prune()
    return gone


def release_process(process_id: str) -> list[str]:
    """A clean stop: the agents whose sockets this process held go offline now."""
    held = list(
        Agent.objects.exclude(state=AgentState.OFFLINE)
        .filter(hub_process=process_id)
        .values_list("pk", "agent_id", "channel_name")
    )
    return [
        agent_id
        for pk, agent_id, channel_name in held
        if disconnect(pk, channel_name=channel_name, reason="shutdown")
    ]
