"""`manage.py backup PATH`: a consistent copy of the embedded database, hub running or not.

Uses SQLite's online backup API (`operations/backup.py`); on Postgres it refuses and
points at pg_dump (docs/OPERATIONS.md "Backups and restore").
"""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agentcom_site.operations import backup


class Command(BaseCommand):
    help = "Copy the embedded SQLite database to PATH while the hub runs."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, path: Path, **options: Any) -> None:
        try:
            written = backup.take(path)
        except backup.BackupRefused as refusal:
            raise CommandError(str(refusal)) from None
        problem = backup.problem_with(written)
        if problem is not None:
            raise CommandError(f"the copy failed its check: {problem}")
        self.stdout.write(f"backup written to {written} ({written.stat().st_size} bytes)")
