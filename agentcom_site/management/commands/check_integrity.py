"""`manage.py check_integrity`: the stored state against the rules that always hold.

Runs the invariant checks of `operations/integrity.py` and the stored-value checks of
`check_data`, prints one line per problem (check, subject, detail) and a summary, and
exits 1 when there is any problem, 0 when there is none. Reads only; safe while the
hub runs (a task caught mid-transition is a snapshot, not a problem: every check
reads committed rows).
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agentcom_site.management.commands.check_data import problems as stored_value_problems
from agentcom_site.operations import integrity


class Command(BaseCommand):
    help = "Check the stored state's invariants; exit 1 when any is broken."

    def handle(self, *args: Any, **options: Any) -> None:
        found = 0
        for p in integrity.problems():
            found += 1
            self.stdout.write(f"{p.check}\t{p.subject}\t{p.detail}")
        for label, pk, field, reason in stored_value_problems():
            found += 1
            self.stdout.write(f"stored_value\t{label} {pk}.{field}\t{reason}")
        if found:
            raise CommandError(f"{found} integrity problem(s) found")
        self.stdout.write("integrity: every check passed")
