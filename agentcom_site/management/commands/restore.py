"""`manage.py restore PATH`: put a backup in place of the embedded database.

Takes the data directory's lock first (the one `runhub` holds, agentcom_site/startup.py),
so it refuses while a hub runs and no hub can start halfway through. Checks that PATH
is an AgentCom database before touching anything, and keeps the old database files
aside (`<name>.before-restore-<time>`), never deleting them.
"""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from agentcom_site import startup
from agentcom_site.core.clock import now
from agentcom_site.operations import backup


class Command(BaseCommand):
    help = "Replace the embedded SQLite database with the backup at PATH (hub stopped)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, path: Path, **options: Any) -> None:
        try:
            live = backup.sqlite_path()
            lock = startup.lock_data_dir(settings.DATA_DIR, url="manage.py restore")
        except (backup.BackupRefused, startup.StartRefused) as refusal:
            raise CommandError(str(refusal)) from None
        try:
            problem = backup.problem_with(path)
            if problem is not None:
                raise CommandError(f"nothing restored: {problem}")
            connections.close_all()
            stamp = f"{now():%Y%m%dT%H%M%SZ}"
            kept = []
            for suffix in ("", "-wal", "-shm"):
                current = live.with_name(live.name + suffix)
                if current.exists():
                    aside = current.with_name(f"{live.name}.before-restore-{stamp}{suffix}")
                    current.replace(aside)
                    kept.append(aside)
            backup.copy_into(path, live)
            # A backup from an older release gets this release's tables.
            call_command("migrate", interactive=False, verbosity=0)
        finally:
            lock.close()
        self.stdout.write(f"restored {path} into {live}")
        for aside in kept:
            self.stdout.write(f"previous file kept as {aside}")
