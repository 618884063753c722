"""Which hub processes are alive, so the agents of a dead one go offline in seconds.

A socket's own end always takes its agent offline (agents.consumers); a process that
dies (SIGKILL, a crash, a loop that stopped) runs no such end. So each process that
hosts sockets beats, one UPDATE every AGENTCOM_PROCESS_BEAT_S, and identify stamps
its id on the agent (`Agent.hub_process`). Any process's sweep
(`presence.release_orphans`) then finds the agents whose process has been silent for
AGENTCOM_PROCESS_DEAD_AFTER_S. This works across any number of processes sharing one
database; the hosts' clocks are assumed to agree to well within that figure.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet

from agentcom_site.core.clock import now
from agents.models import HubProcess

PROCESS_ID = secrets.token_hex(8)
# Rows of processes gone this long are deleted: their agents were released long ago.
FORGET_AFTER = timedelta(hours=1)


def beat() -> None:
    moment = now()
    if not HubProcess.objects.filter(pk=PROCESS_ID).update(beat_at=moment):
        HubProcess.objects.create(process_id=PROCESS_ID, beat_at=moment)


def forget() -> None:
    """A clean stop: this process hosts nothing any more."""
    HubProcess.objects.filter(pk=PROCESS_ID).delete()


def live() -> QuerySet:
    """Ids of the processes that beat recently (a subquery, never loaded)."""
    cutoff = now() - timedelta(seconds=settings.AGENTCOM_PROCESS_DEAD_AFTER_S)
    return HubProcess.objects.filter(beat_at__gte=cutoff).values("process_id")


def prune() -> int:
    return HubProcess.objects.filter(beat_at__lt=now() - FORGET_AFTER).delete()[0]
