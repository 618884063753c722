"""The sweep: the safety net for timers and lost events (PROTOCOL.md §3.6).

Each rule selects the tasks it applies to and hands each one to the same queue
operation an agent or operator would trigger, guarded by the generation it saw, so a
sweep racing a live update (or another sweep in another process) changes nothing twice.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Q

from agentcom_site.core import metrics
from agentcom_site.core.clock import now
from agents import presence
from tasks import holders, queue
from tasks.models import HELD, Task, TaskStatus

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    acceptance_timeouts: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    deadlines: list[str] = field(default_factory=list)
    expired_queued: list[str] = field(default_factory=list)
    grace_expired: list[str] = field(default_factory=list)
    grace_started: int = 0
    silent_agents: list[str] = field(default_factory=list)
    busy_cleared: int = 0

    def action_counts(self) -> dict[str, int]:
        """How many of each thing this sweep did (the `action` of sweep metrics)."""
        return {
            "acceptance_timeout": len(self.acceptance_timeouts),
            "stuck": len(self.stuck),
            "deadline": len(self.deadlines),
            "expired_queued": len(self.expired_queued),
            "grace_expired": len(self.grace_expired),
            "grace_started": self.grace_started,
            "silent_agent": len(self.silent_agents),
            "busy_cleared": self.busy_cleared,
        }

    @property
    def changed(self) -> bool:
        return any(
            (
                self.acceptance_timeouts,
                self.stuck,
                self.deadlines,
                self.expired_queued,
                self.grace_expired,
                self.silent_agents,
                self.busy_cleared,
            )
        )


def _reclaim_each(tasks, *, reason: str, flag_unresponsive: bool = False) -> list[str]:
    done = []
    for task_id, generation in tasks.values_list("id", "generation"):
        try:
            queue.reclaim_task(
                task_id,
                reason=reason,
                expected_generation=generation,
                flag_unresponsive=flag_unresponsive,
            )
        except queue.TaskRefused:
            continue  # moved on meanwhile (a live update, or another sweep)
        done.append(task_id)
    return done


def sweep_once() -> SweepReport:
    moment = now()
    report = SweepReport()
    online_holder = Q(holder_lost_at__isnull=True)

    # Agents whose hub process died without a disconnect go offline (scaled mode).
    report.silent_agents = presence.expire_silent_agents()

    # Tasks whose holder is offline start their reconnect grace (covers hub restarts).
    report.grace_started = holders.lost_holders_tasks().update(holder_lost_at=moment)

    accept_cutoff = moment - timedelta(seconds=settings.AGENTCOM_ACCEPT_TIMEOUT_S)
    report.acceptance_timeouts = _reclaim_each(
        Task.objects.filter(
            online_holder, status=TaskStatus.ASSIGNED, last_activity_at__lt=accept_cutoff
        ),
        reason="acceptance_timeout",
        flag_unresponsive=True,
    )

    stuck_cutoff = moment - timedelta(seconds=settings.AGENTCOM_STUCK_AFTER_S)
    report.stuck = _reclaim_each(
        Task.objects.filter(
            online_holder, status=TaskStatus.WORKING, last_activity_at__lt=stuck_cutoff
        ),
        reason="stuck",
    )

    grace_cutoff = moment - timedelta(seconds=settings.AGENTCOM_RECONNECT_GRACE_S)
    report.grace_expired = _reclaim_each(
        Task.objects.filter(status__in=HELD, holder_lost_at__lt=grace_cutoff),
        reason="agent_disconnect",
    )

    for task_id in Task.objects.filter(status__in=HELD, complete_by__lt=moment).values_list(
        "id", flat=True
    ):
        try:
            queue.fail_past_deadline(task_id)
            report.deadlines.append(task_id)
        except queue.TaskRefused:
            pass  # finished meanwhile
    for task_id in Task.objects.filter(
        status=TaskStatus.QUEUED, complete_by__lt=moment
    ).values_list("id", flat=True):
        try:
            queue.expire_queued(task_id)
        except queue.TaskRefused:
            continue  # taken meanwhile
        report.expired_queued.append(task_id)

    report.busy_cleared = holders.clear_stale_busy(
        moment - timedelta(seconds=settings.AGENTCOM_STUCK_AFTER_S)
    )
    metrics.sweep_actions(report.action_counts())
    if report.changed:
        log.info("sweep: %s", report)
    return report
