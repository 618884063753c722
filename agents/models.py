"""Agents, their tokens, and operator API tokens.

An agent's state is volatile (DESIGN.md): it follows the socket and the task it holds.
Tokens are stored only as SHA-256 hashes; the clear token is shown once at creation.
"""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django_fsm import RETURN_VALUE, FSMField, transition

from agentcom_site.core.clock import now
from agentcom_site.core.transitions import ConcurrentTransitions


class AgentState(models.TextChoices):
    OFFLINE = "offline"
    IDLE = "idle"
    ASSIGNED = "assigned"
    WORKING = "working"
    BLOCKED = "blocked"


class Agent(ConcurrentTransitions, models.Model):
    agent_id = models.CharField(max_length=128, unique=True)
    name = models.CharField(max_length=256, blank=True)
    capabilities = models.JSONField(default=list, blank=True)
    # What the agent's sidecar declared it understands (`identify` `features`, PROTOCOL.md
    # §2.2); replaced by each identify. Pushes a client must opt into check it.
    features = models.JSONField(default=list, blank=True)
    status_text = models.CharField(max_length=256, blank=True, default="")
    state = FSMField(default=AgentState.OFFLINE, choices=AgentState.choices, protected=True)

    # Presence: the channel name of the live socket, if any (latest connection wins).
    channel_name = models.CharField(max_length=255, blank=True, default="")
    # The hub process holding that socket (agents/processes.py): when it stops beating,
    # the socket died with it and the agent goes offline.
    hub_process = models.CharField(max_length=32, blank=True, default="")
    connected_at = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    idle_since = models.DateTimeField(null=True, blank=True)
    last_state_change = models.DateTimeField(default=now)
    total_connections = models.PositiveIntegerField(default=0)

    # Flags (PROTOCOL.md §3.8).
    unresponsive = models.BooleanField(default=False)
    busy = models.BooleanField(default=False)
    busy_since = models.DateTimeField(null=True, blank=True)
    # Set by an operator: the agent finishes what it holds and is offered nothing new.
    # Not volatile like the state: it survives reconnects until an operator lifts it.
    draining = models.BooleanField(default=False)
    draining_since = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["agent_id"]
        indexes = [
            # The scheduler reads idle agents longest-idle first without sorting them all.
            models.Index(fields=["state", "idle_since", "id"], name="agent_idle_order"),
        ]
        constraints = [
            # `Agent-1` and `agent-1` would be one agent to a person reading the dashboard.
            models.UniqueConstraint(Lower("agent_id"), name="agent_id_unique_ignoring_case"),
        ]

    def __str__(self) -> str:
        return self.agent_id

    def has_feature(self, feature: str) -> bool:
        return feature in (self.features or [])

    # What a task operation changes on its holder (presence changes save the whole row).
    LIFECYCLE_FIELDS = (
        "state",
        "last_state_change",
        "idle_since",
        "busy",
        "busy_since",
        "unresponsive",
    )

    @property
    def is_connected(self) -> bool:
        return self.state != AgentState.OFFLINE

    @property
    def flags(self) -> list[str]:
        return [flag for flag in ("unresponsive", "busy", "draining") if getattr(self, flag)]

    def _moved(self) -> None:
        self.last_state_change = now()

    # --- flags (PROTOCOL.md §3.8): set only through these -------------------------------
    def clear_flags(self) -> None:
        """A fresh connection starts with a clean slate."""
        self.unresponsive = False
        self.busy = False
        self.busy_since = None

    def set_busy(self, busy: bool) -> None:
        """`busy` after it rejected a task as busy; cleared when it gives up a task otherwise."""
        self.busy = busy
        self.busy_since = now() if busy else None

    def flag_unresponsive(self) -> None:
        self.unresponsive = True

    def responded(self) -> None:
        self.unresponsive = False

    # --- lifecycle ---------------------------------------------------------------
    @transition(
        field=state,
        source=[
            AgentState.OFFLINE,
            AgentState.IDLE,
            AgentState.ASSIGNED,
            AgentState.WORKING,
            AgentState.BLOCKED,
        ],
        target=RETURN_VALUE(
            AgentState.IDLE, AgentState.ASSIGNED, AgentState.WORKING, AgentState.BLOCKED
        ),
        custom={"admin": False},
    )
    def come_online(self, *, holding: str | None) -> str:
        """Identify: the state follows the task the agent holds (`assigned`/`working`)."""
        self._moved()
        if self.state == AgentState.BLOCKED:
            return AgentState.BLOCKED
        if holding in (AgentState.ASSIGNED, AgentState.WORKING):
            return holding
        self.idle_since = now()
        return AgentState.IDLE

    @transition(
        field=state, source=AgentState.IDLE, target=AgentState.ASSIGNED, custom={"admin": False}
    )
    def take_task(self) -> None:
        self._moved()
        self.idle_since = None

    @transition(
        field=state,
        source=[AgentState.ASSIGNED, AgentState.WORKING],
        target=AgentState.WORKING,
        custom={"admin": False},
    )
    def start_working(self) -> None:
        self._moved()

    @transition(
        field=state,
        source=[AgentState.ASSIGNED, AgentState.WORKING, AgentState.IDLE],
        target=AgentState.IDLE,
        custom={"admin": False},
    )
    def become_idle(self) -> None:
        self._moved()
        self.idle_since = now()

    @transition(
        field=state,
        source=[AgentState.IDLE, AgentState.WORKING],
        target=AgentState.BLOCKED,
        custom={"label": "Block (stop offering work)"},
    )
    def block(self) -> None:
        self._moved()

    @transition(
        field=state,
        source=AgentState.BLOCKED,
        target=RETURN_VALUE(AgentState.IDLE, AgentState.WORKING),
        custom={"label": "Unblock"},
    )
    def unblock(self, *, holding: str | None) -> str:
        """Back to work if it holds a task (`holding` is that task's status), else idle."""
        self._moved()
        if holding is not None:
            return AgentState.WORKING
        self.idle_since = now()
        return AgentState.IDLE

    @transition(
        field=state, source="*", target=AgentState.OFFLINE, custom={"label": "Mark offline"}
    )
    def go_offline(self) -> None:
        self._moved()
        self.channel_name = ""
        self.idle_since = None


TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """32 random bytes as 64 lowercase hex characters."""
    return secrets.token_hex(TOKEN_BYTES)


class TokenQuerySet(models.QuerySet):
    def live(self) -> "TokenQuerySet":
        return self.filter(revoked_at__isnull=True)

    def matching(self, token: str) -> "TokenQuerySet":
        return self.live().filter(token_hash=hash_token(token))


class TokenBase(models.Model):
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False)
    created_at = models.DateTimeField(default=now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TokenQuerySet.as_manager()

    class Meta:
        abstract = True

    def set_token(self, token: str) -> None:
        self.token_hash = hash_token(token)
        self.prefix = token[:8]

    @property
    def display_prefix(self) -> str:
        return f"{self.prefix}..."


class AgentToken(TokenBase):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="tokens")

    def __str__(self) -> str:
        return f"{self.agent.agent_id} {self.display_prefix}"


class OperatorToken(TokenBase):
    """An operator API token: acts as `operator:<name>`."""

    name = models.CharField(max_length=150)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    def __str__(self) -> str:
        return f"operator:{self.name} {self.display_prefix}"


class HubProcess(models.Model):
    """A hub process that hosts agent sockets, and when it last said it was alive."""

    process_id = models.CharField(max_length=32, primary_key=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.process_id


class ResourceReport(models.Model):
    """The latest `resource_report` of an agent's machine (PROTOCOL.md §2.3), one row per
    agent, replaced by each report. Kept apart from `Agent`: presence saves the whole
    agent row, and a report must not be overwritten by a stale copy of it."""

    agent = models.OneToOneField(
        Agent, primary_key=True, on_delete=models.CASCADE, related_name="resource_report"
    )
    cpu_percent = models.FloatField(null=True, blank=True)
    ram_used_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    ram_total_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    vram_used_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    vram_total_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    load_1m = models.FloatField(null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    # The sidecar said it is about to restart (`agent_restarting`); the next report clears it.
    restarting_at = models.DateTimeField(null=True, blank=True)
    restart_reason = models.CharField(max_length=2000, blank=True, default="")

    def __str__(self) -> str:
        return f"resources of {self.agent_id}"
