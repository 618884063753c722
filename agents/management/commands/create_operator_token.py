"""`manage.py create_operator_token NAME`: an operator API token, printed once."""

from django.core.management.base import BaseCommand, CommandError

from agents import tokens


class Command(BaseCommand):
    help = (
        "Issue an operator API token (Authorization: Bearer …) acting as operator:NAME. "
        "Only the token goes to stdout, so TOKEN=$(manage.py create_operator_token ops) works."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="who the token is for, e.g. ops (1-150 characters)")

    def handle(self, *args, name: str, **options) -> None:
        if not 0 < len(name) <= 150:
            raise CommandError("name must be 1-150 characters")
        _, token = tokens.issue_operator_token(name)
        self.stderr.write(f"Operator token for operator:{name}; it is shown once:")
        self.stdout.write(token)
