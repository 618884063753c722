"""`manage.py enforce_retention`: run messaging retention once, as the sweep does."""

from django.core.management.base import BaseCommand

from messaging.retention import enforce_retention


class Command(BaseCommand):
    help = "Evict expired and surplus mailbox entries, prune history and old figures."

    def handle(self, *args, **options) -> None:
        report = enforce_retention()
        for name, count in vars(report).items():
            self.stdout.write(f"{name}: {count}")
