"""What the agents app may know of the tasks its agents hold, without importing tasks.

Agents sit below tasks in the layers (DESIGN.md §Layers): an agent's row never reads the
task table itself. The tasks app registers the answers at start-up (tasks/holders.py);
until it does, nobody holds anything.
"""

from typing import Protocol

from django.db.models import QuerySet


class Holdings(Protocol):
    def status_held_by(self, agent_pk: int) -> str | None:
        """The status ("assigned" or "working") of the task the agent holds, if any."""

    def tasks_held_by(self, agent_pks: list[int]) -> dict[int, str]:
        """The id of the task each agent holds, by agent pk (agents holding none left out)."""

    def holder_pks(self) -> QuerySet:
        """A subquery of the pks of agents holding a task, online or not."""


_source: Holdings | None = None


def provide(source: Holdings) -> None:
    global _source
    _source = source


def status_held_by(agent_pk: int) -> str | None:
    return _source.status_held_by(agent_pk) if _source else None


def tasks_held_by(agent_pks: list[int]) -> dict[int, str]:
    return _source.tasks_held_by(agent_pks) if _source and agent_pks else {}


def holder_pks() -> QuerySet | list[int]:
    return _source.holder_pks() if _source else []
