"""Tasks and their audit trail.

The task lifecycle (DESIGN.md) is a protected FSM field changed only by the transition
methods below. Transitions only move fields; `tasks.queue` wraps each one with the
row lock, the fence checks, the TaskEvent and the after-commit announcement.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import RETURN_VALUE, FSMField, transition

from agentcom_site.core.clock import now, now_ms
from agentcom_site.core.storedjson import StoredJSONField
from agentcom_site.core.transitions import ConcurrentTransitions


class TaskStatus(models.TextChoices):
    QUEUED = "queued"
    ASSIGNED = "assigned"
    WORKING = "working"
    # The holder asked its operator a question and waits for the answer (PROTOCOL.md §3.9).
    INPUT_REQUIRED = "input_required"
    COMPLETED = "completed"
    DEAD_LETTER = "dead_letter"
    CANCELLED = "cancelled"


class Priority(models.IntegerChoices):
    URGENT = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3


# A task waiting for an answer is still held: its agent stays busy with it, the WIP caps
# count it, the reconnect grace and the deadline apply; only the accept and stuck timers
# (which select `assigned` and `working`) leave it alone.
HELD = (TaskStatus.ASSIGNED, TaskStatus.WORKING, TaskStatus.INPUT_REQUIRED)
# What `task_accepted` and a continued recovery move to `working`.
ACCEPTABLE = (TaskStatus.ASSIGNED, TaskStatus.WORKING)


def new_task_id() -> str:
    return f"task-{secrets.token_hex(8)}"


CAPABILITY_SEPARATOR = "\x1f"


def capability_key(capabilities: list[str]) -> str:
    return CAPABILITY_SEPARATOR.join(sorted(set(capabilities)))


def default_title(description: str) -> str:
    """The first non-blank line of the description, cut to 80 characters."""
    for line in description.splitlines():
        if line.strip():
            return line.strip()[:80]
    return ""


COST_FIELDS = (
    "tokens_in",
    "tokens_out",
    "model",
    "cost_usd",
    "cost_computed",
    "execution_ms",
    "iterations",
    "session_id",
)


QUESTION_FIELDS = (
    "question",
    "asked_at",
    "answer",
    "answered_by",
    "answered_at",
    "answer_id",
    "answer_seen_id",
)


class Task(ConcurrentTransitions, models.Model):
    id = models.CharField(primary_key=True, max_length=21, default=new_task_id, editable=False)
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField()
    metadata = StoredJSONField(default=dict, blank=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    status = FSMField(default=TaskStatus.QUEUED, choices=TaskStatus.choices, protected=True)

    holder = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="held_tasks"
    )
    pinned_to = models.ForeignKey(
        "agents.Agent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="pinned_tasks",
    )
    generation = models.PositiveIntegerField(default=0)
    retry_count = models.PositiveIntegerField(default=0)
    max_retries = models.PositiveIntegerField(default=3)
    needed_capabilities = models.JSONField(default=list, blank=True)
    # The sorted capabilities as one string: lets the scheduler skip, in SQL, every
    # task that no idle agent can take instead of reading the whole queue.
    capability_key = models.CharField(max_length=2048, blank=True, default="")
    rejected_by = models.JSONField(default=list, blank=True)
    # {agent_id: [rejections in a row, ms before which it is not offered again]}: an
    # agent rejecting the same task over and over gets it back ever more slowly.
    held_off = models.JSONField(default=dict, blank=True)
    complete_by = models.DateTimeField(null=True, blank=True)

    # What "done" means (PROTOCOL.md §4.5): checked by the input gate, handed to the
    # holder in task_assign; the sidecar runs the verification steps.
    repo = models.CharField(max_length=2000, blank=True, default="")
    branch = models.CharField(max_length=200, blank=True, default="")
    file_hints = models.JSONField(default=list, blank=True)
    success_criteria = models.TextField(blank=True, default="")
    verification_steps = models.JSONField(default=list, blank=True)
    max_verification_retries = models.PositiveSmallIntegerField(default=2)
    complexity = models.CharField(max_length=16, default="standard")
    complexity_reason = models.CharField(max_length=500, blank=True, default="")
    complexity_estimated = models.BooleanField(default=False)
    # The change's risk (tasks/risk.py), set by the holder's `task_classify`; the reports
    # of its checks are VerificationReport rows.
    risk_tier = models.PositiveSmallIntegerField(null=True, blank=True)
    risk_reasons = models.JSONField(default=list, blank=True)
    diff_shape = models.JSONField(null=True, blank=True)

    result = StoredJSONField(null=True, blank=True)
    tokens_used = models.PositiveBigIntegerField(null=True, blank=True)
    # What the result cost (PROTOCOL.md §3.2), in columns so sums stay one query.
    tokens_in = models.PositiveBigIntegerField(null=True, blank=True)
    tokens_out = models.PositiveBigIntegerField(null=True, blank=True)
    model = models.CharField(max_length=128, blank=True, default="")
    cost_usd = models.DecimalField(max_digits=16, decimal_places=6, null=True, blank=True)
    cost_computed = models.BooleanField(default=False)  # from AGENTCOM_PRICES, not the agent
    execution_ms = models.PositiveBigIntegerField(null=True, blank=True)
    iterations = models.PositiveBigIntegerField(null=True, blank=True)
    session_id = models.CharField(max_length=256, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    progress = StoredJSONField(null=True, blank=True)

    # The holder's latest question and the operator's latest answer (PROTOCOL.md §3.9).
    # `answer_id` counts answers (1, 2, ...); `answer_seen_id` is the last one the holder
    # showed it has (a `task_progress` or a new question after it): until then the hub
    # pushes the answer again whenever the holder's recovery continues the task.
    question = models.TextField(blank=True, default="")
    asked_at = models.DateTimeField(null=True, blank=True)
    answer = models.TextField(blank=True, default="")
    answered_by = models.CharField(max_length=256, blank=True, default="")
    answered_at = models.DateTimeField(null=True, blank=True)
    answer_id = models.PositiveIntegerField(default=0)
    answer_seen_id = models.PositiveIntegerField(default=0)

    submitted_by = models.CharField(max_length=256)
    # NULL (not "") for "no key", so the conditional unique constraint ignores it.
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    depends_on = models.ManyToManyField(
        "self", symmetrical=False, related_name="dependents", blank=True
    )
    # Dependencies not yet completed; the scheduler only looks at tasks with 0.
    waiting_on = models.PositiveIntegerField(default=0)
    # Delegation: the task whose holder submitted this one, and how many ancestors it
    # has (0 for a task nobody delegated), so the depth limit needs no walk up the chain.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    depth = models.PositiveSmallIntegerField(default=0)

    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Last sign of life from the holder (assign, accept, progress); drives the timers.
    last_activity_at = models.DateTimeField(null=True, blank=True)
    # Set when the holder's socket drops; the reconnect grace runs from here.
    holder_lost_at = models.DateTimeField(null=True, blank=True)
    event_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["priority", "created_at"]
        indexes = [
            models.Index(fields=["status", "priority", "created_at"], name="task_queue_order"),
            # Tasks by capability key, each key in queue order: the scheduler's scan for
            # distinct queued keys and its candidate pages. (Not partial: SQLite, with no
            # statistics, would rather walk task_status_holder than a partial index.)
            models.Index(
                fields=["status", "capability_key", "priority", "created_at", "id"],
                name="task_capability_queue",
            ),
            # Queued tasks pinned to an agent, in queue order: few, so partial.
            models.Index(
                fields=["pinned_to", "priority", "created_at", "id"],
                condition=Q(status=TaskStatus.QUEUED, pinned_to__isnull=False),
                name="task_queued_pinned",
            ),
            models.Index(fields=["status", "holder"], name="task_status_holder"),
            models.Index(fields=["submitted_by", "created_at"], name="task_submitter"),
            # Cost sums over a range of days (tasks.costs).
            models.Index(fields=["completed_at"], name="task_completed_at"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["submitted_by", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="task_idempotency_per_submitter",
            ),
            models.CheckConstraint(condition=Q(priority__lte=3), name="task_priority_range"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.title}"

    # What lifecycle transitions change; the rest is fixed at submission, and
    # `waiting_on` only moves in SQL as dependencies complete. Saving just these keeps
    # a transition from re-encoding the description, metadata and capabilities.
    TRANSITION_FIELDS = (
        "status",
        "holder",
        "generation",
        "retry_count",
        "rejected_by",
        "held_off",
        "result",
        "tokens_used",
        *COST_FIELDS,
        "last_error",
        "progress",
        *QUESTION_FIELDS,
        "updated_at",
        "assigned_at",
        "accepted_at",
        "completed_at",
        "last_activity_at",
        "holder_lost_at",
        "event_count",
    )

    def save(self, *args, **kwargs) -> None:
        self.capability_key = capability_key(self.needed_capabilities)
        super().save(*args, **kwargs)

    @property
    def priority_name(self) -> str:
        return Priority(self.priority).label.lower()

    @property
    def attempt_label(self) -> str:
        """`attempt 1 of 4`: the try this is (or was last), of all the task may get."""
        allowed = self.max_retries + 1
        if self.generation == 0:
            return f"not tried yet ({allowed} attempts allowed)"
        return f"attempt {min(self.retry_count + 1, allowed)} of {allowed}"

    @property
    def is_held(self) -> bool:
        return self.status in HELD

    def _release(self, *, requeue: bool) -> None:
        """The holder lets go. A return to `queued` bumps the generation (PROTOCOL.md §3.1),
        so any late update from the old holder is stale."""
        if requeue:
            self.generation += 1
        self.holder = None
        self.assigned_at = None
        self.accepted_at = None
        self.holder_lost_at = None
        self.last_activity_at = None
        self.answer_seen_id = self.answer_id  # the next holder is not owed the old answer

    # --- lifecycle ---------------------------------------------------------------
    @transition(
        field=status, source=TaskStatus.QUEUED, target=TaskStatus.ASSIGNED, custom={"admin": False}
    )
    def assign(self, agent) -> None:
        moment = now()
        self.holder = agent
        self.generation += 1
        self.assigned_at = moment
        self.last_activity_at = moment
        self.holder_lost_at = None
        self.progress = None

    @transition(field=status, source=ACCEPTABLE, target=TaskStatus.WORKING, custom={"admin": False})
    def accept(self) -> None:
        moment = now()
        self.accepted_at = self.accepted_at or moment
        self.last_activity_at = moment
        self.holder_lost_at = None

    @transition(field=status, source=HELD, target=TaskStatus.COMPLETED, custom={"admin": False})
    def complete(self, *, result: dict, tokens_used: int | None, cost: dict | None = None) -> None:
        self.result = result
        self.tokens_used = tokens_used
        for field, value in (cost or {}).items():
            setattr(self, field, value)
        self.completed_at = now()
        self.holder_lost_at = None

    @transition(
        field=status,
        source=HELD,
        target=RETURN_VALUE(TaskStatus.QUEUED, TaskStatus.DEAD_LETTER),
        custom={"admin": False},
    )
    def fail(self, *, error: str) -> str:
        """A counted attempt: retry while retry_count + 1 < max_retries (v1.0 arithmetic)."""
        retry = self.retry_count + 1 < self.max_retries
        self.retry_count += 1
        self.last_error = error
        self._release(requeue=retry)
        return TaskStatus.QUEUED if retry else TaskStatus.DEAD_LETTER

    @transition(
        field=status, source=TaskStatus.ASSIGNED, target=TaskStatus.QUEUED, custom={"admin": False}
    )
    def reject(self, *, agent_id: str, reason: str) -> None:
        if agent_id not in self.rejected_by:
            self.rejected_by = [*self.rejected_by, agent_id]
        streak = self.held_off.get(agent_id, [0, 0])[0] + 1
        delay_s = min(
            settings.AGENTCOM_REJECT_BACKOFF_MAX_S,
            settings.AGENTCOM_REJECT_BACKOFF_S * 2 ** min(streak - 1, 30),
        )
        self.held_off = {**self.held_off, agent_id: [streak, now_ms() + int(delay_s * 1000)]}
        self.last_error = f"rejected by {agent_id}: {reason}"
        self._release(requeue=True)

    @transition(
        field=status,
        source=HELD,
        target=TaskStatus.QUEUED,
        custom={"label": "Reclaim (requeue without using a retry)"},
    )
    def reclaim(self, *, pass_over: str = "") -> None:
        """Back to the queue. `pass_over` names a holder that went silent on it: like a
        rejecter, it is offered the task again only when no other capable agent is there
        (else a stuck task would go straight back to the agent that sat on it)."""
        if pass_over and pass_over not in self.rejected_by:
            self.rejected_by = [*self.rejected_by, pass_over]
        self._release(requeue=True)

    @transition(
        field=status,
        source=TaskStatus.WORKING,
        target=TaskStatus.INPUT_REQUIRED,
        custom={"admin": False},
    )
    def ask(self, *, question: str) -> None:
        """The holder waits for an operator; the answer it had is no news to it now."""
        self.question = question
        self.asked_at = now()
        self.answer_seen_id = self.answer_id
        self.holder_lost_at = None

    @transition(
        field=status,
        source=TaskStatus.INPUT_REQUIRED,
        target=TaskStatus.WORKING,
        custom={"admin": False},
    )
    def give_answer(self, *, answer: str, answered_by: str) -> None:
        """The operator answered. The stuck timer starts afresh: the wait was not the
        agent's silence."""
        moment = now()
        self.answer = answer
        self.answered_by = answered_by
        self.answered_at = moment
        self.answer_id += 1
        self.last_activity_at = moment

    @property
    def answer_undelivered(self) -> bool:
        """An answer the holder has not shown it received (see `answer_seen_id`)."""
        return self.answer_id > self.answer_seen_id

    @transition(
        field=status,
        source=[TaskStatus.QUEUED, *HELD],
        target=TaskStatus.CANCELLED,
        custom={"label": "Cancel"},
    )
    def cancel(self) -> None:
        self.completed_at = now()

    @transition(
        field=status,
        source=TaskStatus.DEAD_LETTER,
        target=TaskStatus.QUEUED,
        custom={"label": "Retry"},
    )
    def retry(self) -> None:
        self.generation += 1
        self.retry_count = 0
        self.last_error = ""
        self.rejected_by = []
        self.held_off = {}

    @transition(
        field=status,
        source=TaskStatus.QUEUED,
        target=TaskStatus.DEAD_LETTER,
        custom={"admin": False},
    )
    def expire(self, *, error: str) -> None:
        """A queued task whose deadline passed before anyone took it."""
        self.last_error = error


class TaskEvent(models.Model):
    """Append-only audit row, written in the same transaction as the change it records."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    event = models.CharField(max_length=32)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    actor = models.CharField(max_length=256)
    agent_id = models.CharField(max_length=128, blank=True, default="", db_index=True)
    reason = models.TextField(blank=True, default="")
    generation = models.PositiveIntegerField()
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=now, db_index=True)
    # Identical events in a loop (an agent rejecting the same task again and again)
    # share one row: how many times it happened and when it last did (queue.record).
    repeats = models.PositiveIntegerField(default=1)
    last_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["task", "seq"]
        constraints = [models.UniqueConstraint(fields=["task", "seq"], name="taskevent_seq")]

    def __str__(self) -> str:
        return f"{self.task_id}#{self.seq} {self.event}"


class VerificationReport(models.Model):
    """One attempt of the sidecar's build-verify-fix loop (PROTOCOL.md §3.2), written with
    the `task_complete` or `task_failed` that carried it and never changed. Rows, not a
    field of the task: a retried task keeps every run's reports, and a report (up to
    20 steps of 4 000 characters) is never re-read or re-written by a transition."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="verification_reports")
    generation = models.PositiveIntegerField()
    attempt = models.PositiveSmallIntegerField()
    passed = models.BooleanField()
    steps = models.JSONField(default=list)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["task", "generation", "attempt", "pk"]
        # The task page reads one task's reports in this order.
        indexes = [models.Index(fields=["task", "generation", "attempt"], name="verif_task")]

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "failed"
        return f"{self.task_id} g{self.generation} attempt {self.attempt} {verdict}"


# --- flow control (DESIGN.md §Scheduling, OPERATIONS.md "Flow control") --------------


class FlowScope(models.TextChoices):
    ALL = "all"
    CAPABILITY = "capability"
    SUBMITTER = "submitter"
    REPO = "repo"  # a registered repo's pause, resume or budget (tasks.repos)


class DispatchPause(models.Model):
    """Dispatch is paused for everything (`capability` "") or for every task that needs
    one capability, for as long as the row exists. The scheduler's placement query and
    the claim read it, so every process sees a pause the moment it commits."""

    capability = models.CharField(max_length=128, unique=True, blank=True)
    paused_by = models.CharField(max_length=256)
    reason = models.CharField(max_length=2000, blank=True, default="")
    paused_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["capability"]

    def __str__(self) -> str:
        return f"paused: {self.capability or 'everything'}"


class WipCap(models.Model):
    """At most `limit` tasks held (assigned or working) at once: by tasks that need a
    capability, or by tasks of one submitter. Checked inside the claim (`tasks.flow`)."""

    scope = models.CharField(
        max_length=16,
        choices=[(FlowScope.CAPABILITY, "capability"), (FlowScope.SUBMITTER, "submitter")],
    )
    key = models.CharField(max_length=256)
    limit = models.PositiveIntegerField()
    set_by = models.CharField(max_length=256)
    set_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["scope", "key"]
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="wipcap_scope_key")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}: at most {self.limit} held"


class FlowChange(models.Model):
    """Append-only audit of pauses, resumes and cap changes: who, when, why."""

    action = models.CharField(max_length=16)  # paused, resumed, cap_set, cap_removed, budget_set
    scope = models.CharField(max_length=16, choices=FlowScope.choices)
    key = models.CharField(max_length=256, blank=True, default="")
    limit = models.PositiveIntegerField(null=True, blank=True)
    actor = models.CharField(max_length=256)
    reason = models.CharField(max_length=2000, blank=True, default="")
    created_at = models.DateTimeField(default=now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.action} {self.scope} {self.key}".rstrip()


# Repos, the fleet budget and per-attempt costs live in their own module.
from tasks.repomodels import AttemptCost, AttemptOutcome, FleetBudget, Repo  # noqa: E402, F401
