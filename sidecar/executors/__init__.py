"""Executors: what runs the agent for a task when a config names ``executor``.

Every module of this package that defines ``EXECUTOR`` (an ``Executor``) is one,
found by name here, so adding an executor is adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from sidecar.executors.base import Executor


@cache
def registry() -> dict[str, Executor]:
    found: dict[str, Executor] = {}
    for module in pkgutil.iter_modules(__path__):
        executor = getattr(importlib.import_module(f"{__name__}.{module.name}"), "EXECUTOR", None)
        if isinstance(executor, Executor):
            found[executor.name] = executor
    return found


def executor_names() -> list[str]:
    return sorted(registry())


def get_executor(name: str) -> Executor:
    """The executor called name; KeyError when there is none."""
    return registry()[name]
