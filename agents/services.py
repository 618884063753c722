"""The agent service: creating and registering agents, operator blocks and drains.

Every entry point that creates an agent (the create_agent and onboard_agent commands,
self-registration, the token API, the demo) comes through here, so an agent id is
checked in one place. Presence (identify, disconnect, liveness) is agents/presence.py.
Like the task operations, each runs in one transaction and announces after commit.
"""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from agentcom_site.core.clock import now
from agentcom_site.core.errors import conflict, not_found
from agentcom_site.core.events import EventKind, announce
from agentcom_site.core.validation import check_agent_id
from agents import holdings
from agents.models import Agent, AgentState
from agents.tokens import issue_agent_token

log = logging.getLogger(__name__)


def validate_agent_id(agent_id: str) -> None:
    """Raise validation_failed (field `agent_id`) unless agent_id may name an agent.

    The pattern (PROTOCOL.md §1) leaves out `:`, so no agent can pass for `operator:x`;
    the database refuses a second id that differs only in case.
    """
    check_agent_id(agent_id)


def _case_twin(agent_id: str) -> Exception:
    return conflict(
        "agent_id already registered",
        f"agent {agent_id} is already registered; agent ids ignore case",
    )


def ensure_agent(
    agent_id: str, *, name: str = "", capabilities: list[str] | None = None
) -> tuple[Agent, bool]:
    """The agent named agent_id, created if missing; returns (agent, created).

    For an existing agent, a name or capabilities given replace the stored ones. An id
    that differs from an existing one only in case is a 409 `agent_id already registered`.
    """
    validate_agent_id(agent_id)
    with transaction.atomic():
        twin = (
            Agent.objects.filter(agent_id__iexact=agent_id)
            .exclude(agent_id=agent_id)
            .values_list("agent_id", flat=True)
            .first()
        )
        if twin is not None:
            raise _case_twin(twin)
        try:
            with transaction.atomic():
                agent, created = Agent.objects.select_for_update().get_or_create(
                    agent_id=agent_id,
                    defaults={"name": name or agent_id, "capabilities": capabilities or []},
                )
        except IntegrityError:  # a twin in another case was created meanwhile
            raise _case_twin(agent_id) from None
        if not created and (name or capabilities):
            agent.name = name or agent.name
            agent.capabilities = capabilities or agent.capabilities
            agent.save(update_fields=["name", "capabilities"])
    return agent, created


@dataclass(frozen=True)
class Registration:
    agent: Agent
    token: str
    created: bool


def register_agent(
    agent_id: str,
    *,
    capabilities: list[str] | None = None,
    name: str = "",
    allow_existing: bool = False,
) -> Registration:
    """Create the agent and issue its first token (the clear token is returned once).

    An existing agent is a 409 `agent_id already registered` unless `allow_existing`,
    in which case it gets one more token (older ones stay valid) and the capabilities
    given, if any. Committed before returning.
    """
    validate_agent_id(agent_id)
    already = conflict("agent_id already registered", f"agent {agent_id} is already registered")
    with transaction.atomic():
        exists = Agent.objects.filter(agent_id=agent_id).exists()
        if exists and not allow_existing:
            raise already
        try:
            with transaction.atomic():
                agent, created = ensure_agent(agent_id, name=name, capabilities=capabilities)
        except IntegrityError:  # registered by a concurrent request meanwhile
            raise already from None
        if not created and not allow_existing:
            raise already
        _, token = issue_agent_token(agent)
    return Registration(agent, token, created)


def _locked(agent_pk: int) -> Agent:
    return Agent.objects.select_for_update().get(pk=agent_pk)


def block_agent(agent_pk: int, *, actor: str) -> Agent:
    """Operator: stop offering work to the agent (idle or working → blocked)."""
    with transaction.atomic():
        agent = _locked(agent_pk)
        agent.block()
        agent.save()
        announce(EventKind.AGENT_STATE, agent_id=agent.agent_id, fsm_state=agent.state, actor=actor)
    return agent


def unblock_agent(agent_pk: int, *, actor: str) -> Agent:
    """Operator: lift a block; the agent returns to idle (and is offered work) or working."""
    with transaction.atomic():
        agent = _locked(agent_pk)
        agent.unblock(holding=holdings.status_held_by(agent.pk))
        agent.save()
        announce(EventKind.AGENT_STATE, agent_id=agent.agent_id, fsm_state=agent.state, actor=actor)
        if agent.state == AgentState.IDLE:
            announce(EventKind.AGENT_IDLE, agent_id=agent.agent_id)
    return agent


def set_draining(agent_id: str, *, draining: bool, actor: str) -> Agent:
    """Operator: drain an agent (it finishes what it holds and is offered nothing new)
    or lift the drain. Survives reconnects. Lifting it from an idle agent offers it work
    at once. Raises 404 `agent_not_found`."""
    with transaction.atomic():
        agent = Agent.objects.select_for_update().filter(agent_id=agent_id).first()
        if agent is None:
            raise not_found("agent_not_found", f"no agent {agent_id}", agent_id=agent_id)
        if agent.draining == draining:
            return agent
        agent.draining = draining
        agent.draining_since = now() if draining else None
        agent.save(update_fields=["draining", "draining_since"])
        log.info("agent %s %s by %s", agent_id, "draining" if draining else "undrained", actor)
        announce(
            EventKind.AGENT_STATE,
            agent_id=agent.agent_id,
            fsm_state=agent.state,
            actor=actor,
            draining=draining,
        )
        if not draining and agent.state == AgentState.IDLE and agent.channel_name:
            announce(EventKind.AGENT_IDLE, agent_id=agent.agent_id)
    return agent
