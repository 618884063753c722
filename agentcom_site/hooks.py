"""Extension points of the agent socket.

Each app contributes, in a `frames` module, a `HANDLERS` dict (frame type -> async
handler taking the consumer and the raw frame) and optionally `on_identified` and
`on_disconnected` coroutines. The consumer stays ignorant of what the frames mean.
"""

from collections.abc import Awaitable, Callable
from functools import cache
from importlib import import_module
from types import ModuleType
from typing import Any

FRAME_MODULES = ("agents.frames", "tasks.frames", "messaging.frames")

Handler = Callable[[Any, dict[str, Any]], Awaitable[None]]


@cache
def _modules() -> tuple[ModuleType, ...]:
    found = []
    for name in FRAME_MODULES:
        try:
            found.append(import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return tuple(found)


@cache
def frame_handlers() -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    for module in _modules():
        handlers.update(getattr(module, "HANDLERS", {}))
    return handlers


async def run_identified_hooks(consumer: Any) -> None:
    for module in _modules():
        hook = getattr(module, "on_identified", None)
        if hook is not None:
            await hook(consumer)


async def run_disconnect_hooks(consumer: Any) -> None:
    for module in _modules():
        hook = getattr(module, "on_disconnected", None)
        if hook is not None:
            await hook(consumer)
