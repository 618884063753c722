"""Backups of the embedded (SQLite) database, and the check a restore makes first.

`take` copies the live database with SQLite's online backup API: the copy is one
consistent snapshot even while the hub writes (WAL readers do not block writers).
Postgres is backed up with pg_dump instead (docs/OPERATIONS.md "Backups and restore").
`start_scheduled` is the sweep's hook for AGENTCOM_BACKUP_EVERY_S: one backup per
period, in a thread of its own so the database thread never waits for the copy, and
only the newest AGENTCOM_BACKUP_KEEP files are kept.
"""

import logging
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.models import Q

from agentcom_site.core.clock import now
from agentcom_site.operations.models import AlertSettings

log = logging.getLogger(__name__)

SCHEDULED_PREFIX = "agentcom-"
SCHEDULED_SUFFIX = ".sqlite3"
# Tables a file must have to be taken for an AgentCom database.
REQUIRED_TABLES = ("django_migrations", "tasks_task", "tasks_taskevent", "agents_agent")
PAGES_PER_STEP = 4096  # pages copied per step: the writer lock is never held long


class BackupRefused(Exception):
    """The backup or restore cannot be made; the message says why and what to do."""


def sqlite_path() -> Path:
    """The embedded database's file, or BackupRefused on Postgres."""
    db = settings.DATABASES["default"]
    if not db["ENGINE"].endswith("sqlite3"):
        raise BackupRefused(
            "this hub runs on Postgres: back it up with pg_dump and restore it with "
            'pg_restore (see docs/OPERATIONS.md "Backups and restore")'
        )
    return Path(db["NAME"])


def take(destination: Path) -> Path:
    """Copy the live database to `destination`, or into it when it is a directory
    (written beside it, then renamed into place, so a half-written file never carries
    the name). Returns the path written."""
    source_path = sqlite_path()
    destination = destination.resolve()
    if destination.is_dir():
        destination = destination / f"{SCHEDULED_PREFIX}{now():%Y%m%dT%H%M%SZ}{SCHEDULED_SUFFIX}"
    if destination == source_path.resolve():
        raise BackupRefused("the backup must not overwrite the live database")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(source_path, timeout=20)
    target = sqlite3.connect(partial)
    try:
        source.backup(target, pages=PAGES_PER_STEP)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        target.close()
        source.close()
    partial.replace(destination)
    return destination


def problem_with(path: Path) -> str | None:
    """Why `path` is not a readable AgentCom database, or None when it is one."""
    if not path.is_file():
        return f"{path} is not a file"
    with path.open("rb") as handle:
        if handle.read(16) != b"SQLite format 3\x00":
            return f"{path} is not an SQLite database"
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        finally:
            db.close()
    except sqlite3.DatabaseError as error:
        return f"{path} cannot be read: {error}"
    if check != "ok":
        return f"{path} fails SQLite's check: {check}"
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        return f"{path} is not an AgentCom database (no {', '.join(missing)} table)"
    return None


# --- scheduled backups -----------------------------------------------------------------

_running = threading.Lock()


def _claim(moment) -> bool:
    """One scheduled backup per period, whichever process sweeps (a conditional update)."""
    AlertSettings.objects.get_or_create(pk=1)
    due = moment - timedelta(seconds=settings.AGENTCOM_BACKUP_EVERY_S)
    return (
        AlertSettings.objects.filter(pk=1)
        .filter(Q(last_backup_at__isnull=True) | Q(last_backup_at__lte=due))
        .update(last_backup_at=moment)
        == 1
    )


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` scheduled backups in `directory`; returns those gone."""
    files = sorted(directory.glob(f"{SCHEDULED_PREFIX}*{SCHEDULED_SUFFIX}"))
    gone = files[: max(0, len(files) - max(1, keep))]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


def scheduled_backup(moment) -> Path:
    directory = Path(settings.AGENTCOM_BACKUP_DIR)
    name = f"{SCHEDULED_PREFIX}{moment:%Y%m%dT%H%M%SZ}{SCHEDULED_SUFFIX}"
    path = take(directory / name)
    prune(directory, settings.AGENTCOM_BACKUP_KEEP)
    return path


def _backup_in_thread(moment) -> None:
    try:
        path = scheduled_backup(moment)
        log.info("scheduled backup written to %s", path)
    except Exception:
        log.exception("scheduled backup failed")
    finally:
        _running.release()


def start_scheduled() -> bool:
    """The sweep's hook: start this period's backup if it is due here; True if started."""
    if settings.AGENTCOM_BACKUP_EVERY_S <= 0 or connection.vendor != "sqlite":
        return False
    moment = now()
    if not _running.acquire(blocking=False):
        return False
    try:
        claimed = _claim(moment)
    except Exception:
        _running.release()
        raise
    if not claimed:
        _running.release()
        return False
    threading.Thread(target=_backup_in_thread, args=(moment,), daemon=True).start()
    return True


def copy_into(source_path: Path, destination: Path) -> None:
    """Write the database at `source_path` to `destination` (no hub may be using it)."""
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    target = sqlite3.connect(destination)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=WAL")
    finally:
        target.close()
        source.close()
