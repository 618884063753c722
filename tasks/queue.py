"""Task operations: the only code that changes a task.

Every operation runs in one transaction that locks the task row (then the agent row),
checks the fence, applies the model transition, writes its TaskEvent and queues an
after-commit announcement. A refusal raises `TaskRefused` and changes nothing.
"""

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from agentcom_site.core import metrics
from agentcom_site.core.clock import now
from agentcom_site.core.errors import HubError, ValidationFailed, conflict, invalid, not_found
from agentcom_site.core.events import Event, EventKind, announce
from agentcom_site.core.limits import TOKENS_USED_MAX
from agentcom_site.core.rows import (
    execute_sql,
    insert_row,
    lock_by_pk,
    lock_one,
    new,
    save_fields,
)
from agents.models import Agent, AgentState
from tasks import delegation, flow, holders, risk, verification
from tasks.costs import CostIn, cost_columns, record_attempt, reports_cost, tokens_total
from tasks.models import (
    ACCEPTABLE,
    HELD,
    Priority,
    Task,
    TaskEvent,
    TaskStatus,
    capability_key,
    default_title,
)
from tasks.schemas import DiffShape, VerificationAttempt
from tasks.wire import assign_frame, input_frame

log = logging.getLogger(__name__)

SCHEDULER = "scheduler"
# Reclaims that mean the holder sat on its task: it is passed over next time (Task.reclaim).
SILENT_HOLDER_REASONS = ("stuck", "acceptance_timeout")
SWEEP = "sweep"


class ClaimLost(HubError):
    """The task or the agent of a claim was no longer available (another claim came first)."""

    def __init__(self, task_id: str, side: str) -> None:
        super().__init__(
            "claim_lost", f"cannot assign {task_id}: the {side} is taken", http_status=409
        )
        self.side = side


class Placement(NamedTuple):
    """What the scheduler needs to place a task, known when its transaction announces it."""

    capability_key: str
    rejected_by: list[str]
    pinned_pk: int | None
    held_off: dict[str, list[int]] | None = None


class TaskRefused(HubError):
    """A fenced task frame that was refused: `task_<verb>_failed: <reason>` (§3.4)."""

    def __init__(self, verb: str, reason: str, task_id: str) -> None:
        super().__init__(
            f"task_{verb}_failed: {reason}",
            f"cannot {verb} {task_id}: {reason.replace('_', ' ')}",
            http_status=409,
            task_id=task_id,
        )
        self.reason = reason


# --- building blocks -----------------------------------------------------------------


def record(
    task: Task,
    event: str,
    *,
    from_status: str,
    actor: str,
    reason: str = "",
    agent_id: str = "",
    details: dict[str, Any] | None = None,
    created: bool = False,
    accepted_at: datetime | None = None,
) -> TaskEvent:
    """Save the task's transition and append its audit row (call inside its transaction).

    One UPDATE (conditional on the state read, so a concurrent change raises) and one
    INSERT; `created` inserts a new task instead. A loop (assign/reject, assign/reclaim)
    is counted instead of growing the trail: an event identical to the last row (same
    event, statuses, actor, agent and reason) adds to that row, and one that completes a
    second round of the last pair (rows X Y X, then Y) adds to X and Y and drops the
    trailing X. Either way the rows in `seq` order still tell what happened in order.
    After commit the transition is counted and logged (`_observed`); `accepted_at` is
    when the attempt a failure ends began working (the failure has already cleared it).
    """
    transaction.on_commit(_observed(task, event, agent_id, accepted_at))
    if event in LOOPING_EVENTS and task.event_count >= 3 and not details:
        folded = _fold_repeat(task, event, from_status, actor, agent_id, reason)
        if folded is not None:
            save_fields(task, Task.TRANSITION_FIELDS)
            return folded
    task.event_count += 1
    if created:
        task.capability_key = capability_key(task.needed_capabilities)
        insert_row(task)
    else:
        save_fields(task, Task.TRANSITION_FIELDS)
    row = new(
        TaskEvent,
        task=task,
        seq=task.event_count,
        event=event,
        from_status=from_status,
        to_status=task.status,
        actor=actor,
        agent_id=agent_id,
        reason=reason,
        generation=task.generation,
        details=details or {},
    )
    insert_row(row)
    return row


def _observed(
    task: Task, event: str, agent_id: str, accepted_at: datetime | None
) -> Callable[[], None]:
    """What `record` counts and logs once the transition is committed."""
    moment = now()
    dispatch_s = accept_s = work_s = None
    if event == "assigned" and task.generation == 1:
        dispatch_s = (moment - task.created_at).total_seconds()
    elif event == "accepted" and task.assigned_at is not None:
        accept_s = (moment - task.assigned_at).total_seconds()
    elif event == "completed" and task.accepted_at is not None:
        work_s = (moment - task.accepted_at).total_seconds()
    elif accepted_at is not None:
        work_s = (moment - accepted_at).total_seconds()
    status = task.status
    task_id = task.id

    def observe() -> None:
        metrics.task_transition(
            event, status, dispatch_s=dispatch_s, accept_s=accept_s, work_s=work_s
        )
        log.info(
            "task %s %s",
            task_id,
            event,
            extra={"task_id": task_id, "agent_id": agent_id or None, "task_event": event},
        )

    return observe


# Events a loop can repeat without end. A normal lifecycle records `assigned` as its
# second event, so the look-back query never runs on the hot path.
LOOPING_EVENTS = frozenset({"assigned", "rejected", "reclaimed"})


def _signature(row: TaskEvent) -> tuple:
    return (row.event, row.from_status, row.to_status, row.actor, row.agent_id, row.reason)


def _fold_repeat(
    task: Task, event: str, from_status: str, actor: str, agent_id: str, reason: str
) -> TaskEvent | None:
    """Count `event` on the rows it repeats, or None when it repeats nothing."""
    this = (event, from_status, task.status, actor, agent_id, reason)
    rows = list(task.events.filter(seq__gt=task.event_count - 3).order_by("seq"))
    if rows and _signature(rows[-1]) == this:
        return _count_again(rows[-1], task.generation)
    if (
        len(rows) == 3
        and _signature(rows[1]) == this
        and _signature(rows[0]) == _signature(rows[2])
    ):
        first, second, trailing = rows
        # The trailing X joins its twin; its seq is reused by the next event.
        first.repeats += trailing.repeats
        first.last_at = trailing.last_at or trailing.created_at
        first.generation = trailing.generation
        first.save(update_fields=["repeats", "last_at", "generation"])
        trailing.delete()
        task.event_count -= 1
        return _count_again(second, task.generation)
    return None


def _count_again(row: TaskEvent, generation: int) -> TaskEvent:
    row.repeats += 1
    row.last_at = now()
    row.generation = generation
    row.save(update_fields=["repeats", "last_at", "generation"])
    return row


def _locked_task(task_id: str) -> Task | None:
    return lock_by_pk(Task, task_id)


def _operator_task(task_id: str, allowed: tuple[str, ...], refusal: str) -> Task:
    """The task an operator acts on, locked: 404 `task_not_found`, or 409 `invalid_state`
    (`refusal` formatted with its id and status) unless its status is in `allowed`."""
    task = _locked_task(task_id)
    if task is None:
        raise not_found("task_not_found", f"no task {task_id}", task_id=task_id)
    if task.status not in allowed:
        raise conflict(
            "invalid_state",
            refusal.format(task_id=task_id, status=task.status),
            task_id=task_id,
            status=task.status,
        )
    return task


def _locked_agent(pk: int | None) -> Agent | None:
    if pk is None:
        return None
    return lock_by_pk(Agent, pk)


def _fenced(
    verb: str,
    task_id: str,
    agent: Agent | None,
    generation: int | None,
    allowed: Iterable[str] = HELD,
) -> Task:
    """Lock the task and check PROTOCOL.md §3.3 in order; the first failure names the reason.

    `agent` None: the hub itself acts (timers, operators), so there is no holder to check.
    """
    task = _locked_task(task_id)
    if task is None:
        raise TaskRefused(verb, "not_found", task_id)
    if task.status not in allowed:
        raise TaskRefused(verb, "invalid_state", task_id)
    if agent is not None and task.holder_id != agent.pk:
        raise TaskRefused(verb, "not_assignee", task_id)
    if generation is not None and generation != task.generation:
        raise TaskRefused(verb, "stale_generation", task_id)
    return task


def _release_dependents(task_id: str) -> int:
    """One fewer dependency to wait for, for every task that depends on `task_id`.

    Runs on every completion and almost always matches nothing; written as SQL because
    the ORM's UPDATE-through-a-join costs ~0.5 ms of Python to build (~0.04 ms to run).
    """
    quote = connection.ops.quote_name
    tasks = quote(Task._meta.db_table)
    links = Task.depends_on.through._meta
    dependent = quote(links.get_field("from_task").column)
    dependency = quote(links.get_field("to_task").column)
    return execute_sql(
        f"UPDATE {tasks} SET waiting_on = waiting_on - 1 WHERE waiting_on > 0 AND id IN "
        f"(SELECT {dependent} FROM {quote(links.db_table)} WHERE {dependency} = %s)",
        [task_id],
    )


def _tell_holder_it_is_gone(task: Task, agent: Agent | None, reason: str) -> None:
    """A connected holder whose task is taken away gets `task_cancelled` after commit."""
    if agent is not None and agent.channel_name:
        announce(
            EventKind.TASK_TAKEN,
            task_id=task.id,
            agent_id=agent.agent_id,
            channel_name=agent.channel_name,
            reason=reason,
        )


# --- submit --------------------------------------------------------------------------


def submit_task(
    *,
    description: str,
    submitted_by: str,
    title: str | None = None,
    priority: int = Priority.NORMAL,
    metadata: dict[str, Any] | None = None,
    max_retries: int = 3,
    complete_by: datetime | None = None,
    needed_capabilities: list[str] | None = None,
    idempotency_key: str | None = None,
    depends_on: list[str] | None = None,
    pinned_to: Agent | None = None,
    parent_id: str | None = None,
    definition: dict[str, Any] | None = None,
    batched: bool = False,
) -> tuple[Task, bool]:
    """Queue a new task; returns (task, created). `batched`: inside `submit_tasks`.

    `parent_id` makes it a child (delegation): checked against the limits under the
    parent's lock (`tasks.delegation.admit_child`, 409 when past one).

    `definition` holds the checked definition-of-done columns (`tasks.intake.definition`).

    A repeated `idempotency_key` from the same submitter returns the existing task with
    created=False and changes nothing. Unknown `depends_on` ids raise ValidationFailed.
    Announces `task_submitted` after commit.
    """
    if idempotency_key:
        existing = Task.objects.filter(
            submitted_by=submitted_by, idempotency_key=idempotency_key
        ).first()
        if existing is not None:
            return existing, False
    try:
        # A batch is rolled back whole on any refusal: a savepoint per task only where
        # a key may lose its race.
        with transaction.atomic(savepoint=bool(idempotency_key) or not batched):
            task = _create_task(
                description=description,
                submitted_by=submitted_by,
                title=title,
                priority=priority,
                metadata=metadata,
                max_retries=max_retries,
                complete_by=complete_by,
                needed_capabilities=needed_capabilities,
                idempotency_key=idempotency_key,
                depends_on=depends_on or [],
                pinned_to=pinned_to,
                parent_id=parent_id,
                **(definition or {}),
            )
    except IntegrityError:
        # A concurrent submit with the same key won the race: answer with its task.
        existing = Task.objects.filter(
            submitted_by=submitted_by, idempotency_key=idempotency_key
        ).first()
        if idempotency_key and existing is not None:
            return existing, False
        raise
    return task, True


def submit_tasks(
    submissions: list[dict[str, Any]], *, submitted_by: str
) -> list[tuple[Task, bool]]:
    """Queue several tasks in one transaction: all of them, or none if one is refused.

    Each entry takes `submit_task`'s keyword arguments and behaves as that call would
    (idempotent replays included); the tasks are announced, and so placed, after commit.
    """
    results = []
    with transaction.atomic():
        for index, fields in enumerate(submissions):
            try:
                results.append(submit_task(submitted_by=submitted_by, batched=True, **fields))
            except ValidationFailed as refusal:
                raise refusal.within(f"tasks[{index}].") from None
    return results


def _create_task(
    *, depends_on: list[str], title: str | None, parent_id: str | None = None, **fields: Any
) -> Task:
    depth = delegation.admit_child(parent_id) if parent_id else 0
    dependency_ids = list(dict.fromkeys(depends_on))
    found = (
        dict(Task.objects.filter(pk__in=dependency_ids).values_list("pk", "status"))
        if dependency_ids
        else {}
    )
    for index, dependency_id in enumerate(dependency_ids):
        if dependency_id not in found:
            raise invalid(
                f"depends_on[{index}]", "not_found", f"no task {dependency_id} to depend on"
            )
    task = new(
        Task,
        title=title or default_title(fields["description"]),
        metadata=fields.pop("metadata") or {},
        needed_capabilities=fields.pop("needed_capabilities") or [],
        waiting_on=sum(1 for status in found.values() if status != TaskStatus.COMPLETED),
        parent_id=parent_id,
        depth=depth,
        **fields,
    )
    record(
        task, "queued", from_status="", actor=task.submitted_by, reason="submitted", created=True
    )
    if dependency_ids:
        task.depends_on.set(dependency_ids)
    # Eligible at once and free for anyone: the scheduler need not read the row back.
    eligible = task.waiting_on == 0 and task.complete_by is None and task.pinned_to_id is None
    placement = Placement(task.capability_key, [], None) if eligible else None
    announce(EventKind.TASK_SUBMITTED, task_id=task.id, agent_id=None, placement=placement)
    return task


# --- assignment ----------------------------------------------------------------------


def assign_task(task_id: str, agent_pk: int, *, actor: str = SCHEDULER) -> Task:
    """Claim a queued task and an idle, connected agent together, or neither.

    Rows already locked by another claimer are skipped (Postgres), so concurrent
    schedulers never wait on each other and never double-book. A draining agent is not
    available. The flow rules are checked last, under their locks (`flow.admit_locked`).
    Returns the assigned task; raises ClaimLost when either side was no longer
    available, `flow.Withheld` when dispatch is paused or a WIP cap is reached.
    `task_assign` is pushed to the agent's own socket after commit.
    """
    with transaction.atomic():
        task = lock_one(
            Task, '"id" = %s AND "status" = %s', [task_id, TaskStatus.QUEUED], skip_locked=True
        )
        if task is None:
            raise ClaimLost(task_id, "task")
        agent = lock_one(
            Agent,
            '"id" = %s AND "state" = %s AND "busy" = %s AND "draining" = %s'
            " AND \"channel_name\" <> ''",
            [agent_pk, AgentState.IDLE, False, False],
            skip_locked=True,
        )
        if agent is None:
            raise ClaimLost(task_id, "agent")
        flow.admit_locked(task)
        _assign_locked(task, agent, actor=actor)
    return task


def _assign_locked(task: Task, agent: Agent, *, actor: str) -> None:
    task.assign(agent)
    agent.take_task()
    save_fields(agent, Agent.LIFECYCLE_FIELDS)
    record(task, "assigned", from_status=TaskStatus.QUEUED, actor=actor, agent_id=agent.agent_id)
    announce(
        EventKind.TASK_ASSIGNED,
        task_id=task.id,
        agent_id=agent.agent_id,
        channel_name=agent.channel_name,
        frame=assign_frame(task),
    )


def push_task(*, agent_id: str, submitted_by: str, **fields: Any) -> Task:
    """Create a task pinned to a connected idle agent and assign it at once (admin push).

    An operator's explicit act: pauses and WIP caps do not apply, draining does.
    Raises 404 `agent_not_connected` or 409 `agent_busy` / `agent_draining`; nothing is
    created then.
    """
    with transaction.atomic():
        agent = Agent.objects.select_for_update().filter(agent_id=agent_id).first()
        if agent is None or not agent.channel_name:
            raise not_found("agent_not_connected", f"agent {agent_id} is not connected")
        if agent.state != AgentState.IDLE or agent.busy:
            raise conflict("agent_busy", f"agent {agent_id} is {agent.state}", agent_id=agent_id)
        if agent.draining:
            raise conflict("agent_draining", f"agent {agent_id} is draining", agent_id=agent_id)
        task = _create_task(
            submitted_by=submitted_by,
            pinned_to=agent,
            depends_on=[],
            idempotency_key=None,
            **fields,
        )
        _assign_locked(task, agent, actor=submitted_by)
    return task


# --- holder frames -------------------------------------------------------------------


def accept_task(task_id: str, agent: Agent, generation: int | None = None) -> Task:
    """`task_accepted`: assigned → working (a repeat while working is acked again)."""
    with transaction.atomic():
        task = _fenced("accept", task_id, agent, generation, allowed=ACCEPTABLE)
        holder = _locked_agent(agent.pk)
        previous = task.status
        task.accept()
        holders.works(holder)
        if previous == TaskStatus.ASSIGNED:
            record(
                task,
                "accepted",
                from_status=previous,
                actor=agent.agent_id,
                agent_id=agent.agent_id,
            )
            announce(EventKind.TASK_ACCEPTED, task_id=task.id, agent_id=agent.agent_id)
        else:
            task.save()  # a repeat: only the activity time moves
    return task


def record_progress(
    task_id: str, agent: Agent, generation: int | None = None, progress: Any = None
) -> Task:
    """`task_progress` (and `wake_result` success): activity that keeps the stuck timer away."""
    with transaction.atomic():
        task = _fenced("progress", task_id, agent, generation)
        fields = {"last_activity_at": now(), "updated_at": now(), "holder_lost_at": None}
        if progress is not None:
            fields["progress"] = progress
        if task.answer_undelivered:
            fields["answer_seen_id"] = task.answer_id  # it is past the answer (§3.9)
        Task.objects.filter(pk=task.pk).update(**fields)
        for name, value in fields.items():
            setattr(task, name, value)
        announce(EventKind.TASK_PROGRESS, task_id=task.id, agent_id=agent.agent_id)
    return task


# The most wake attempts one task's timeline records: the sidecar makes 4 by default;
# an agent sending more is not telling the operator anything new.
WAKE_EVENTS_KEPT = 20


def record_wake(
    task_id: str, agent: Agent, *, status: str, attempt: int | None, error: str = ""
) -> Task:
    """`wake_result` (§6.4): the holder's sidecar tried to wake its agent; the timeline
    shows each attempt and its outcome. A success is also activity (the stuck timer)."""
    with transaction.atomic():
        task = _fenced("wake", task_id, agent, None)
        if task.events.filter(event="wake").count() < WAKE_EVENTS_KEPT:
            if status == "success":
                task.last_activity_at = now()
                task.holder_lost_at = None
            record(
                task,
                "wake",
                from_status=task.status,
                actor=agent.agent_id,
                agent_id=agent.agent_id,
                reason=error if status != "success" else "",
                details={"status": status, "attempt": attempt},
            )
        elif status == "success":
            Task.objects.filter(pk=task.pk).update(last_activity_at=now(), holder_lost_at=None)
    return task


def complete_task(
    task_id: str,
    agent: Agent,
    generation: int | None,
    *,
    result: dict[str, Any],
    tokens_used: int | None = None,
    cost: CostIn | None = None,
    checks: list[VerificationAttempt] | None = None,
) -> Task:
    """`task_complete`: assigned|working → completed, once. Unblocks dependents.
    The cost fields come from `cost` (the frame), else from the result (`tasks.costs`);
    `checks`, the verification reports, are stored in the same transaction."""
    fallback = result.get("tokens_used")
    if tokens_used is None and isinstance(fallback, int) and not isinstance(fallback, bool):
        # v1.0 sidecars report it inside the result; out of range there is just not counted
        tokens_used = fallback if 0 <= fallback <= TOKENS_USED_MAX else None
    with transaction.atomic():
        task = _fenced("complete", task_id, agent, generation)
        holder = _locked_agent(agent.pk)
        previous = task.status
        columns = cost_columns(cost, result)
        if tokens_used is None:
            tokens_used = tokens_total(columns)
        record_attempt(task, agent.agent_id, columns, completed=True)
        task.complete(result=result, tokens_used=tokens_used, cost=columns)
        verification.store(task, checks)
        record(
            task, "completed", from_status=previous, actor=agent.agent_id, agent_id=agent.agent_id
        )
        holders.free(holder)
        released = _release_dependents(task.id)
        announce(
            EventKind.TASK_COMPLETED, task_id=task.id, agent_id=agent.agent_id, released=released
        )
    return task


def fail_task(
    task_id: str,
    agent: Agent,
    generation: int | None,
    *,
    error: str,
    actor: str | None = None,
    checks: list[VerificationAttempt] | None = None,
    cost: CostIn | None = None,
) -> Task:
    """`task_failed` from the holder: a counted failure, retry or dead letter (§3.1);
    `checks`, the verification reports, are stored under the generation that failed.
    What the attempt cost (`cost`, the frame's fields) is kept as an `AttemptCost`; the
    task's own cost columns stay those of a completing result."""
    with transaction.atomic():
        task = _fenced("fail", task_id, agent, generation)
        verification.store(task, checks)
        if reports_cost(cost):
            record_attempt(task, agent.agent_id, cost_columns(cost, {}), completed=False)
        return _count_failure(task, error=error, actor=actor or agent.agent_id)


def classify_task(task_id: str, agent: Agent, generation: int, *, diff: DiffShape) -> Task:
    """`task_classify` (§3.2): the holder's change gets its risk tier (`tasks.risk`),
    stored with the diff's shape and recorded as a `classified` event; the status stays."""
    with transaction.atomic():
        task = _fenced("classify", task_id, agent, generation)
        decided = risk.classify(diff, risk.Rules.from_settings())
        task.risk_tier, task.risk_reasons = decided.tier, decided.reasons
        task.diff_shape = diff.model_dump()
        Task.objects.filter(pk=task.pk).update(
            risk_tier=task.risk_tier, risk_reasons=task.risk_reasons, diff_shape=task.diff_shape
        )
        record(
            task,
            "classified",
            from_status=task.status,
            actor=agent.agent_id,
            agent_id=agent.agent_id,
            reason=f"risk tier {decided.tier}: " + "; ".join(decided.reasons),
            details={"tier": decided.tier},
        )
        announce(EventKind.TASK_PROGRESS, task_id=task.id, agent_id=agent.agent_id)
    return task


def fail_past_deadline(task_id: str) -> Task:
    """The hub fails a held task past its `complete_by` (a counted failure, no fence);
    a connected holder is told to stop."""
    with transaction.atomic():
        task = _fenced("fail", task_id, None, None)
        return _count_failure(task, error="deadline_exceeded", actor=SWEEP, tell_holder=True)


def _count_failure(task: Task, *, error: str, actor: str, tell_holder: bool = False) -> Task:
    holder = _locked_agent(task.holder_id)
    previous = task.status
    accepted_at = task.accepted_at
    outcome = task.fail(error=error)
    event = "retry" if outcome == TaskStatus.QUEUED else "dead_letter"
    record(
        task,
        event,
        from_status=previous,
        actor=actor,
        agent_id=holder.agent_id if holder else "",
        reason=error,
        accepted_at=accepted_at,
    )
    if tell_holder:
        _tell_holder_it_is_gone(task, holder, error)
    holders.free(holder)
    kind = EventKind.TASK_RETRIED if outcome == TaskStatus.QUEUED else EventKind.TASK_DEAD_LETTER
    announce(kind, task_id=task.id)
    return task


def reject_task(task_id: str, agent: Agent, generation: int | None, *, reason: str) -> Task:
    """`task_rejected`: assigned → queued without using a retry; a `busy` reason flags the agent."""
    with transaction.atomic():
        task = _fenced("reject", task_id, agent, generation, allowed=(TaskStatus.ASSIGNED,))
        holder = _locked_agent(agent.pk)
        task.reject(agent_id=agent.agent_id, reason=reason)
        record(
            task,
            "rejected",
            from_status=TaskStatus.ASSIGNED,
            actor=agent.agent_id,
            agent_id=agent.agent_id,
            reason=reason,
        )
        holders.free(holder, busy=reason == "busy")
        announce(
            EventKind.TASK_REJECTED,
            task_id=task.id,
            agent_id=agent.agent_id,
            held_off_until_ms=task.held_off[agent.agent_id][1],
        )
    return task


def reclaim_task(
    task_id: str,
    *,
    reason: str,
    actor: str = SWEEP,
    expected_generation: int | None = None,
    flag_unresponsive: bool = False,
) -> Task:
    """Take a held task back to the queue (generation +1, no retry used).

    Used by the timers, the reconnect grace and operators. Raises TaskRefused when the
    task is not held, or, with `expected_generation`, when it moved on meanwhile.
    """
    with transaction.atomic():
        task = _fenced("reclaim", task_id, None, expected_generation)
        holder = _locked_agent(task.holder_id)
        previous = task.status
        silent = holder is not None and reason in SILENT_HOLDER_REASONS
        task.reclaim(pass_over=holder.agent_id if silent else "")
        record(
            task,
            "reclaimed",
            from_status=previous,
            actor=actor,
            agent_id=holder.agent_id if holder else "",
            reason=reason,
        )
        _tell_holder_it_is_gone(task, holder, reason)
        holders.free(holder, unresponsive=flag_unresponsive)
        announce(
            EventKind.TASK_RECLAIMED, task_id=task.id, agent_id=holder.agent_id if holder else None
        )
    return task


def holder_left(agent_id: str) -> list[str]:
    """The agent went offline: its held tasks keep AGENTCOM_RECONNECT_GRACE_S, or with no
    grace are reclaimed now. Returns the ids reclaimed.

    Runs after the disconnect commits (`on_agent_left`); if the process dies first, the
    sweep starts the grace of tasks whose holder is offline.
    """
    held = holders.lost_holders_tasks().filter(holder__agent_id=agent_id)
    if settings.AGENTCOM_RECONNECT_GRACE_S > 0:
        held.update(holder_lost_at=now())
        return []
    reclaimed = []
    for task_id, generation in held.values_list("id", "generation"):
        try:
            reclaim_task(task_id, reason="agent_disconnect", expected_generation=generation)
        except TaskRefused:
            continue  # finished or moved on meanwhile
        reclaimed.append(task_id)
    return reclaimed


def on_agent_left(event: Event) -> None:
    if event.kind == EventKind.AGENT_LEFT and event.agent_id:
        holder_left(event.agent_id)


def continue_task(task_id: str, agent: Agent, generation: int | None = None) -> Task:
    """A recovering holder reports its task: it continues in `working` (§3.7), or stays
    `input_required` while its question waits. The caller pushes `task_input` again when
    `task.answer_undelivered` (§3.9)."""
    with transaction.atomic():
        task = _fenced("continue", task_id, agent, generation)
        holder = _locked_agent(agent.pk)
        previous = task.status
        if previous == TaskStatus.INPUT_REQUIRED:
            # Still waiting for its answer: the grace ends, the state stays (§3.9).
            task.holder_lost_at = None
        else:
            task.accept()
        holders.works(holder)
        record(
            task, "continued", from_status=previous, actor=agent.agent_id, agent_id=agent.agent_id
        )
        announce(EventKind.TASK_CONTINUED, task_id=task.id, agent_id=agent.agent_id)
    return task


# --- operator operations -------------------------------------------------------------


def cancel_task(task_id: str, *, actor: str, reason: str = "cancelled") -> Task:
    """Cancel a queued or held task; a connected holder gets `task_cancelled`.

    Raises 404 `task_not_found` or 409 `invalid_state` (completed, dead_letter, cancelled).
    """
    with transaction.atomic():
        task = _operator_task(
            task_id,
            (TaskStatus.QUEUED, *HELD),
            "task {task_id} is {status} and cannot be cancelled",
        )
        holder = _locked_agent(task.holder_id) if task.is_held else None
        previous = task.status
        task.cancel()
        record(
            task,
            "cancelled",
            from_status=previous,
            actor=actor,
            agent_id=holder.agent_id if holder else "",
            reason=reason,
        )
        _tell_holder_it_is_gone(task, holder, "cancelled")
        holders.free(holder)
        announce(EventKind.TASK_CANCELLED, task_id=task.id)
    return task


def retry_dead_letter(task_id: str, *, actor: str) -> Task:
    """dead_letter → queued with a fresh retry budget. 404 / 409 `invalid_state` otherwise."""
    with transaction.atomic():
        task = _operator_task(
            task_id,
            (TaskStatus.DEAD_LETTER,),
            "task {task_id} is {status}; only dead-letter tasks can be retried",
        )
        task.retry()
        record(task, "queued", from_status=TaskStatus.DEAD_LETTER, actor=actor, reason="retry")
        announce(EventKind.TASK_REQUEUED, task_id=task.id)
    return task


def expire_queued(task_id: str) -> Task:
    """A queued task past its `complete_by` goes to the dead letter queue.

    Raises TaskRefused when it is no longer queued."""
    with transaction.atomic():
        task = _fenced("expire", task_id, None, None, allowed=(TaskStatus.QUEUED,))
        task.expire(error="deadline_exceeded")
        record(
            task,
            "dead_letter",
            from_status=TaskStatus.QUEUED,
            actor=SWEEP,
            reason="deadline_exceeded",
        )
        announce(EventKind.TASK_DEAD_LETTER, task_id=task.id)
    return task


# --- questions: input_required (PROTOCOL.md §3.9) -----------------------------------------

INPUT_FEATURE = "input_required"


def ask_operator(task_id: str, agent: Agent, generation: int, *, question: str) -> Task:
    """`task_input_required`: the holder of a `working` task waits for an operator's answer.

    Fenced in §3.3 order, then the agent must have declared the `input_required` feature
    (`feature_not_declared`). Commits the question and its `input_required` event;
    announces it (the dashboard's feed) after commit.
    """
    with transaction.atomic():
        task = _fenced("input_required", task_id, agent, generation, allowed=(TaskStatus.WORKING,))
        holder = _locked_agent(agent.pk)
        if holder is None or not holder.has_feature(INPUT_FEATURE):
            raise TaskRefused("input_required", "feature_not_declared", task_id)
        task.ask(question=question)
        record(
            task,
            "input_required",
            from_status=TaskStatus.WORKING,
            actor=agent.agent_id,
            agent_id=agent.agent_id,
            reason=question,  # the trail's text: history `details`, the timeline's reason
            details={"question": question},
        )
        announce(EventKind.TASK_INPUT_REQUIRED, task_id=task.id, agent_id=agent.agent_id)
    return task


def answer_task(task_id: str, *, answer: str, actor: str) -> Task:
    """An operator answers the holder's question: input_required → working.

    Raises 404 `task_not_found` or 409 `invalid_state`. Commits the answer (who, when,
    `answer_id` + 1) and its `input_answered` event; after commit the holder gets
    `task_input` if it is connected and declared `input_required`. An offline holder gets
    it when its recovery continues the task (`continue_task`).
    """
    with transaction.atomic():
        task = _operator_task(
            task_id,
            (TaskStatus.INPUT_REQUIRED,),
            "task {task_id} is {status}; only a task waiting for input can be answered",
        )
        holder = _locked_agent(task.holder_id)
        task.give_answer(answer=answer, answered_by=actor)
        record(
            task,
            "input_answered",
            from_status=TaskStatus.INPUT_REQUIRED,
            actor=actor,
            agent_id=holder.agent_id if holder else "",
            reason=answer,
            details={"answer_id": task.answer_id},
        )
        reachable = holder is not None and holder.channel_name
        wants = reachable and holder.has_feature(INPUT_FEATURE)
        announce(
            EventKind.TASK_INPUT_ANSWERED,
            task_id=task.id,
            agent_id=holder.agent_id if holder else None,
            channel_name=holder.channel_name if wants else "",
            frame=input_frame(task) if wants else None,
        )
    return task
