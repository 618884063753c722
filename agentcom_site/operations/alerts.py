"""Alert rules and the life of an alert (docs/OPERATIONS.md "Alerts").

The rules are pure functions of `facts.Facts` and `facts.Thresholds`: each returns the
problems that hold now, as `Condition`s named by rule and key. `apply` turns them into
alert rows: a new problem fires (unless the same one resolved within the cooldown), a
problem still there stays as it is (firing or acknowledged, no new notification), and
an open alert whose problem is gone resolves. Every change writes an `AlertEvent` and
queues a webhook delivery in the same transaction; the POSTs happen after commit,
elsewhere (`operations.webhooks`).

`evaluate` runs once per sweep interval whichever process sweeps: it claims the round
with a conditional update of the settings row (the sweep's own claiming habit), so two
`schedule` workers never fire the same alert twice.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from agentcom_site.core.clock import now
from agentcom_site.core.errors import conflict, not_found
from agentcom_site.operations import webhooks
from agentcom_site.operations.facts import Facts, Thresholds, gather, key_capabilities
from agentcom_site.operations.models import (
    OPEN,
    THRESHOLD_DEFAULTS,
    Alert,
    AlertEvent,
    AlertSettings,
    AlertState,
    DeliveryState,
    WebhookDelivery,
)

log = logging.getLogger(__name__)

SWEEP = "sweep"
# Queue depth samples kept for "queue growing" (one per evaluation, pruned to the window).
SAMPLES_MAX = 500
# New alerts one evaluation may fire: a bound on its transaction and on the webhooks.
FIRES_MAX = 100


@dataclass(frozen=True)
class Condition:
    rule: str
    key: str
    title: str
    detail: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


# --- the rules -----------------------------------------------------------------------


def agent_offline(f: Facts, t: Thresholds) -> list[Condition]:
    out = []
    for agent_id, since_ms in f.offline_agents:
        gone_s = (f.moment_ms - since_ms) / 1000
        if gone_s >= t.agent_offline_s:
            out.append(
                Condition(
                    "agent_offline",
                    agent_id,
                    f"agent {agent_id} offline for {_minutes(gone_s)}",
                    f"offline since {since_ms} ms; threshold {_minutes(t.agent_offline_s)}",
                    {"agent_id": agent_id, "offline_since": since_ms},
                )
            )
    return out


def queue_growing(f: Facts, t: Thresholds) -> list[Condition]:
    start = f.moment_ms - t.queue_window_s * 1000
    window = [depth for at, depth in f.queue_samples if at >= start]
    if len(window) < 2:
        return []
    lowest, current = min(window), window[-1]
    if current - lowest < t.queue_growth:
        return []
    return [
        Condition(
            "queue_growing",
            "",
            f"queue grew by {current - lowest} to {current} tasks",
            f"within {_minutes(t.queue_window_s)}; threshold {t.queue_growth}",
            {"queued": current, "lowest": lowest},
        )
    ]


def failure_rate(f: Facts, t: Thresholds) -> list[Condition]:
    total = f.failed + f.succeeded
    if total < max(1, t.failure_min) or f.failed / total < t.failure_rate:
        return []
    rate = f.failed / total
    return [
        Condition(
            "failure_rate",
            "",
            f"{rate:.0%} of finished attempts failed ({f.failed} of {total})",
            f"within {_minutes(t.failure_window_s)}; threshold {t.failure_rate:.0%}",
            {"failed": f.failed, "succeeded": f.succeeded, "rate": round(rate, 4)},
        )
    ]


def stuck_tasks(f: Facts, t: Thresholds) -> list[Condition]:
    if not f.stuck_count:
        return []
    return [
        Condition(
            "stuck_tasks",
            "",
            f"{f.stuck_count} working task(s) silent for over {_minutes(t.stuck_after_s)}",
            ", ".join(f"{task} ({agent})" for task, agent, _ in f.stuck[:10]),
            {"count": f.stuck_count, "tasks": [task for task, _, _ in f.stuck]},
        )
    ]


def questions_unanswered(f: Facts, t: Thresholds) -> list[Condition]:
    """One alert per waiting task: it resolves when that question is answered."""
    return [
        Condition(
            "question_unanswered",
            task_id,
            f"{task_id} has waited over {_minutes(t.question_after_s)} for an answer",
            f"{agent or 'its agent'} asked a question; answer it on the task's page",
            {"task_id": task_id, "agent_id": agent, "asked_at": asked_at},
        )
        for task_id, agent, asked_at in f.questions
    ]


def dead_letters(f: Facts, t: Thresholds) -> list[Condition]:
    if not f.dead_letter_count:
        return []
    return [
        Condition(
            "dead_letters",
            "",
            f"{f.dead_letter_count} task(s) went to the dead letter queue "
            f"in the last {_minutes(t.dead_letter_window_s)}",
            ", ".join(f.dead_letters[:10]),
            {"count": f.dead_letter_count, "tasks": f.dead_letters},
        )
    ]


def _shown(key: str) -> str:
    return ", ".join(sorted(key_capabilities(key))) or "no capability"


def unplaceable_tasks(f: Facts, t: Thresholds) -> list[Condition]:
    out = []
    for key, queued in f.queued_keys.items():
        needed = key_capabilities(key)
        if not any(needed <= caps for caps in f.capability_sets):
            out.append(
                Condition(
                    "unplaceable_tasks",
                    key,
                    f"{queued} queued task(s) need {_shown(key)}: no registered agent has them",
                    "register an agent with these capabilities, or cancel the tasks",
                    {"capabilities": sorted(needed), "queued": queued},
                )
            )
    return out


def capability_offline(f: Facts, t: Thresholds) -> list[Condition]:
    needed = sorted({cap for key in f.queued_keys for cap in key_capabilities(key)})
    out = []
    for cap in needed:
        holders = [counts for caps, counts in f.capability_sets.items() if cap in caps]
        registered = sum(total for _, total in holders)
        if registered and not any(online for online, _ in holders):
            out.append(
                Condition(
                    "capability_offline",
                    cap,
                    f"all {registered} agent(s) with capability {cap} are offline",
                    "queued work needing it waits until one connects",
                    {"capability": cap, "agents": registered},
                )
            )
    return out


RULES: dict[str, Callable[[Facts, Thresholds], list[Condition]]] = {
    "agent_offline": agent_offline,
    "queue_growing": queue_growing,
    "failure_rate": failure_rate,
    "stuck_tasks": stuck_tasks,
    "question_unanswered": questions_unanswered,
    "dead_letters": dead_letters,
    "unplaceable_tasks": unplaceable_tasks,
    "capability_offline": capability_offline,
}


def conditions(f: Facts, t: Thresholds) -> list[Condition]:
    return [c for rule in RULES.values() for c in rule(f, t)]


# --- thresholds ------------------------------------------------------------------------


def settings_row() -> AlertSettings:
    row, _ = AlertSettings.objects.get_or_create(pk=1)
    return row


def thresholds(row: AlertSettings | None = None) -> Thresholds:
    row = row or settings_row()
    values = {name: row.effective(name) for name in THRESHOLD_DEFAULTS}
    return Thresholds(**values)


def update_thresholds(changes: dict[str, float | int | None], *, actor: str) -> AlertSettings:
    """Set (or, with None, clear back to the setting's default) the named thresholds."""
    with transaction.atomic():
        row = settings_row()
        for name, value in changes.items():
            if name not in THRESHOLD_DEFAULTS:
                raise ValueError(name)
            setattr(row, name, value)
        row.updated_at = now()
        row.updated_by = actor
        row.save()
    return row


# --- an alert's life -------------------------------------------------------------------


def _event(alert: Alert, kind: str, *, actor: str, detail: str = "") -> None:
    AlertEvent.objects.create(alert=alert, kind=kind, actor=actor, detail=detail)
    webhooks.enqueue(alert, f"alert.{kind}")


def fire(c: Condition, moment: datetime) -> Alert | None:
    """Open an alert for `c`; None when one is already open (a racing evaluation)."""
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                rule=c.rule,
                key=c.key,
                title=c.title[:300],
                detail=c.detail,
                facts=c.facts,
                fired_at=moment,
                last_seen_at=moment,
            )
            _event(alert, "fired", actor=SWEEP, detail=c.title)
    except IntegrityError:
        return None
    return alert


def resolve(alert: Alert, moment: datetime) -> bool:
    with transaction.atomic():
        if not Alert.objects.filter(pk=alert.pk, state__in=OPEN).update(
            state=AlertState.RESOLVED, resolved_at=moment
        ):
            return False
        alert.refresh_from_db()
        _event(alert, "resolved", actor=SWEEP)
    return True


def acknowledge(alert_id: int, *, actor: str) -> Alert:
    """A firing alert becomes acknowledged (no more notifications while it stays open);
    acknowledging it again changes nothing. A resolved alert: 409 `alert_resolved`."""
    with transaction.atomic():
        moment = now()
        moved = Alert.objects.filter(pk=alert_id, state=AlertState.FIRING).update(
            state=AlertState.ACKNOWLEDGED, acknowledged_at=moment, acknowledged_by=actor[:160]
        )
        alert = Alert.objects.filter(pk=alert_id).first()
        if alert is None:
            raise not_found("alert_not_found", f"no alert {alert_id}", alert_id=alert_id)
        if moved:
            _event(alert, "acknowledged", actor=actor[:160])
        elif alert.state == AlertState.RESOLVED:
            raise conflict("alert_resolved", f"alert {alert_id} is already resolved")
    return alert


def _cooling(rule_keys: list[tuple[str, str]], since: datetime) -> set[tuple[str, str]]:
    if not rule_keys:
        return set()
    recent = Q()
    for rule, key in rule_keys:
        recent |= Q(rule=rule, key=key)
    return set(
        Alert.objects.filter(recent, state=AlertState.RESOLVED, resolved_at__gte=since)
        .values_list("rule", "key")
        .distinct()
    )


def apply(found: list[Condition], t: Thresholds, moment: datetime) -> dict[str, int]:
    """Move the stored alerts to match `found`; returns counts of what changed."""
    open_alerts = {(a.rule, a.key): a for a in Alert.objects.filter(state__in=OPEN)}
    wanted = {(c.rule, c.key): c for c in found}
    # New problems looked at this round (the rest wait for the next): bounds the query.
    new = [rk for rk in wanted if rk not in open_alerts][: FIRES_MAX * 2]
    cooling = _cooling(new, moment - timedelta(seconds=t.cooldown_s))
    counts = {"fired": 0, "resolved": 0, "kept": 0, "cooling": 0}
    for rule_key in new:
        if rule_key in cooling:
            counts["cooling"] += 1
        elif counts["fired"] < FIRES_MAX and fire(wanted[rule_key], moment):
            counts["fired"] += 1
    for rule_key, alert in open_alerts.items():
        c = wanted.get(rule_key)
        if c is None:
            counts["resolved"] += resolve(alert, moment)
        else:
            counts["kept"] += 1
            Alert.objects.filter(pk=alert.pk).update(
                last_seen_at=moment, title=c.title[:300], detail=c.detail, facts=c.facts
            )
    return counts


# --- one evaluation ----------------------------------------------------------------------

# Rows forgotten per evaluation, so a first run on a large history stays a short step.
FORGET_MAX = 1000


def forget_old(moment: datetime) -> int:
    """Delete resolved alerts and finished deliveries older than AGENTCOM_ALERT_KEEP_DAYS."""
    cutoff = moment - timedelta(days=settings.AGENTCOM_ALERT_KEEP_DAYS)
    gone = 0
    old_deliveries = WebhookDelivery.objects.filter(
        finished_at__lt=cutoff, state__in=(DeliveryState.DELIVERED, DeliveryState.FAILED)
    )
    pks = list(old_deliveries.values_list("pk", flat=True)[:FORGET_MAX])
    gone += WebhookDelivery.objects.filter(pk__in=pks).delete()[0]
    old_alerts = Alert.objects.filter(state=AlertState.RESOLVED, resolved_at__lt=cutoff)
    pks = list(old_alerts.values_list("pk", flat=True)[:FORGET_MAX])
    gone += Alert.objects.filter(pk__in=pks).delete()[0]
    return gone


def claim_round(moment: datetime) -> bool:
    """True for the one process that evaluates this interval (a conditional update)."""
    settings_row()
    recent = moment - timedelta(seconds=settings.AGENTCOM_SWEEP_INTERVAL_S / 2)
    return (
        AlertSettings.objects.filter(pk=1)
        .filter(Q(evaluated_at__isnull=True) | Q(evaluated_at__lte=recent))
        .update(evaluated_at=moment)
        == 1
    )


def run_round(moment: datetime | None = None) -> dict[str, int]:
    """Gather the facts, apply the rules, store the queue sample. Unclaimed: call
    `evaluate` from a sweep."""
    moment = moment or now()
    row = settings_row()
    t = thresholds(row)
    window_start = moment.timestamp() * 1000 - t.queue_window_s * 1000
    samples = [(at, n) for at, n in row.queue_samples if at >= window_start][-SAMPLES_MAX:]
    f = gather(t, moment, samples)
    AlertSettings.objects.filter(pk=1).update(queue_samples=f.queue_samples[-SAMPLES_MAX:])
    counts = apply(conditions(f, t), t, moment)
    forget_old(moment)
    if counts["fired"] or counts["resolved"]:
        log.info("alerts: %s", counts)
    return counts


def evaluate() -> dict[str, int] | None:
    """The sweep's hook: evaluate unless another process already did this interval."""
    moment = now()
    if not claim_round(moment):
        return None
    counts = run_round(moment)
    webhooks.kick()  # also picks up deliveries a stopped process left
    return counts
