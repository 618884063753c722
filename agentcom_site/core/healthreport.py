"""What apps add to `GET /health`, registered in their `ready()`.

The health route belongs to the agents app, which may not import the apps above it;
an app with state an operator must see at a glance (the tasks app: paused dispatch)
registers a section here instead. Each section is one small read.
"""

from collections.abc import Callable
from typing import Any

Section = Callable[[], dict[str, Any]]
_sections: dict[str, Section] = {}


def register(name: str, section: Section) -> None:
    _sections[name] = section


def sections() -> dict[str, dict[str, Any]]:
    return {name: section() for name, section in _sections.items()}
