"""What the alert rules look at: a few bounded, read-only figures of the stored state.

Gathered once per evaluation (`gather`), so the rules in `operations.alerts` are pure
functions of these values and easy to test without a database.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count

from agentcom_site.core.clock import to_ms
from agents.models import Agent, AgentState
from tasks.models import CAPABILITY_SEPARATOR, Task, TaskEvent, TaskStatus

# At most this many subjects per rule (agents, tasks, capability keys) per evaluation:
# a fleet of 10 000 offline agents is one page of alerts, not 10 000.
SUBJECTS_MAX = 50
# Events that end an attempt badly (a counted failure) or well, for the failure rate.
FAILURE_EVENTS = ("retry", "dead_letter")
SUCCESS_EVENTS = ("completed",)


@dataclass(frozen=True)
class Thresholds:
    agent_offline_s: float
    queue_growth: int
    queue_window_s: float
    failure_rate: float
    failure_min: int
    failure_window_s: float
    stuck_after_s: float
    dead_letter_window_s: float
    cooldown_s: float
    question_after_s: float = 900


@dataclass
class Facts:
    moment_ms: int
    # (agent_id, offline since ms) of agents that have connected once, offline longest first.
    offline_agents: list[tuple[str, int]] = field(default_factory=list)
    # (ms, queued tasks) of earlier evaluations and this one, oldest first.
    queue_samples: list[tuple[int, int]] = field(default_factory=list)
    failed: int = 0
    succeeded: int = 0
    # (task_id, agent_id, last activity ms) of working tasks silent past the threshold.
    stuck: list[tuple[str, str, int]] = field(default_factory=list)
    stuck_count: int = 0
    # (task_id, agent_id, asked at ms) of questions unanswered past the threshold.
    questions: list[tuple[str, str, int]] = field(default_factory=list)
    dead_letters: list[str] = field(default_factory=list)  # dead-lettered in the window
    dead_letter_count: int = 0
    queued_keys: dict[str, int] = field(default_factory=dict)  # capability key -> queued
    # Each distinct capability set of registered agents -> (online, registered) agents.
    capability_sets: dict[frozenset[str], tuple[int, int]] = field(default_factory=dict)


def key_capabilities(key: str) -> frozenset[str]:
    return frozenset(key.split(CAPABILITY_SEPARATOR)) if key else frozenset()


def _offline_agents(moment: datetime, t: Thresholds) -> list[tuple[str, int]]:
    cutoff = moment - timedelta(seconds=t.agent_offline_s)
    rows = (
        Agent.objects.filter(
            state=AgentState.OFFLINE, last_seen__isnull=False, last_state_change__lte=cutoff
        )
        .order_by("last_state_change", "id")
        .values_list("agent_id", "last_state_change")[:SUBJECTS_MAX]
    )
    return [(agent_id, to_ms(since)) for agent_id, since in rows]


def _capability_sets() -> dict[frozenset[str], tuple[int, int]]:
    sets: Counter[frozenset[str]] = Counter()
    online: Counter[frozenset[str]] = Counter()
    for caps, state in Agent.objects.values_list("capabilities", "state").iterator(2000):
        key = frozenset(c for c in caps if isinstance(c, str)) if isinstance(caps, list) else None
        if key is None:
            continue
        sets[key] += 1
        if state != AgentState.OFFLINE:
            online[key] += 1
    return {caps: (online[caps], count) for caps, count in sets.items()}


def gather(t: Thresholds, moment: datetime, samples: list[tuple[int, int]]) -> Facts:
    """Read the figures the rules need; `samples` are the earlier queue depths."""
    facts = Facts(moment_ms=to_ms(moment))
    facts.offline_agents = _offline_agents(moment, t)

    queued = Task.objects.filter(status=TaskStatus.QUEUED)
    facts.queue_samples = [*samples, (facts.moment_ms, queued.count())]

    since = moment - timedelta(seconds=t.failure_window_s)
    outcomes = dict(
        TaskEvent.objects.filter(created_at__gte=since, event__in=FAILURE_EVENTS + SUCCESS_EVENTS)
        .values_list("event")
        .annotate(n=Count("id"))
        .order_by()
    )
    facts.failed = sum(outcomes.get(e, 0) for e in FAILURE_EVENTS)
    facts.succeeded = sum(outcomes.get(e, 0) for e in SUCCESS_EVENTS)

    silent = Task.objects.filter(
        status=TaskStatus.WORKING,
        last_activity_at__lt=moment - timedelta(seconds=t.stuck_after_s),
    )
    facts.stuck_count = silent.count()
    facts.stuck = [
        (task_id, agent_id or "", to_ms(at))
        for task_id, agent_id, at in silent.order_by("last_activity_at").values_list(
            "id", "holder__agent_id", "last_activity_at"
        )[:SUBJECTS_MAX]
    ]

    waiting = Task.objects.filter(
        status=TaskStatus.INPUT_REQUIRED,
        asked_at__lt=moment - timedelta(seconds=t.question_after_s),
    )
    facts.questions = [
        (task_id, agent_id or "", to_ms(at))
        for task_id, agent_id, at in waiting.order_by("asked_at").values_list(
            "id", "holder__agent_id", "asked_at"
        )[:SUBJECTS_MAX]
    ]

    dead = TaskEvent.objects.filter(
        event="dead_letter",
        created_at__gte=moment - timedelta(seconds=t.dead_letter_window_s),
    )
    facts.dead_letter_count = dead.count()
    facts.dead_letters = list(dead.order_by("-id").values_list("task_id", flat=True)[:SUBJECTS_MAX])

    facts.queued_keys = dict(
        queued.order_by()
        .values_list("capability_key")
        .annotate(n=Count("id"))
        .order_by("-n")[:SUBJECTS_MAX]
    )
    facts.capability_sets = _capability_sets()
    return facts
