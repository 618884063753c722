"""Retention: what the sweep drops so messaging storage stays bounded.

Called from every sweep (`agentcom_site.background`), from `POST /api/mailbox/evict`
and from `manage.py enforce_retention`. Each step is an idempotent bulk delete, so
several workers running it at once remove nothing twice.
"""

import logging
from dataclasses import asdict, dataclass
from datetime import timedelta

from agentcom_site.core.clock import now
from messaging import analytics, config, mailbox
from messaging.models import HISTORY_KINDS, ConnectionSession, HourlyTraffic, Message

log = logging.getLogger(__name__)


@dataclass
class RetentionReport:
    mailbox_expired: int = 0
    mailbox_trimmed: int = 0
    history_pruned: int = 0
    sessions_closed: int = 0
    stats_pruned: int = 0

    @property
    def changed(self) -> bool:
        return any(asdict(self).values())


def prune_history(keep: int | None = None) -> int:
    """Keep the newest `keep` direct and broadcast messages; returns how many went."""
    keep = config.history_keep() if keep is None else keep
    history = Message.objects.filter(kind__in=HISTORY_KINDS)
    boundary = history.order_by("-seq").values_list("seq", flat=True)[keep : keep + 1].first()
    if boundary is None:
        return 0
    return history.filter(seq__lte=boundary).delete()[0]


def prune_stats() -> int:
    moment = now()
    old_buckets = HourlyTraffic.objects.filter(
        bucket__lt=moment - timedelta(days=config.TRAFFIC_KEEP_DAYS)
    ).delete()[0]
    old_sessions = ConnectionSession.objects.filter(
        ended_at__lt=moment - timedelta(hours=config.SESSIONS_KEEP_HOURS)
    ).delete()[0]
    return old_buckets + old_sessions


def enforce_retention() -> RetentionReport:
    """Evict mailbox entries past the TTL, trim mailboxes over the cap, prune the global
    history beyond its size, close sessions orphaned by a restart and drop old figures."""
    report = RetentionReport(
        mailbox_expired=mailbox.evict_expired(),
        mailbox_trimmed=mailbox.trim(),
        history_pruned=prune_history(),
        sessions_closed=analytics.close_orphan_sessions(),
        stats_pruned=prune_stats(),
    )
    if report.changed:
        log.info("retention: %s", report)
    return report
