"""Extension points of the agent socket: each app registers the frames it handles.

An app's `ready()` calls `register()` with its frame handlers (frame type -> async
handler taking the consumer and the raw frame) and, optionally, coroutines to run when
a socket has identified or has gone. The consumer stays ignorant of what frames mean.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured

Handler = Callable[[Any, dict[str, Any]], Awaitable[None]]
Hook = Callable[[Any], Awaitable[None]]

_handlers: dict[str, Handler] = {}
_on_identified: list[Hook] = []
_on_disconnected: list[Hook] = []


def register(
    handlers: dict[str, Handler],
    *,
    on_identified: Hook | None = None,
    on_disconnected: Hook | None = None,
) -> None:
    """Add an app's frames; a frame type has one owner. Registering again is harmless."""
    for kind, handler in handlers.items():
        if _handlers.setdefault(kind, handler) is not handler:
            raise ImproperlyConfigured(f"frame type {kind!r} is registered twice")
    if on_identified is not None and on_identified not in _on_identified:
        _on_identified.append(on_identified)
    if on_disconnected is not None and on_disconnected not in _on_disconnected:
        _on_disconnected.append(on_disconnected)


def frame_handlers() -> dict[str, Handler]:
    return _handlers


async def run_identified_hooks(consumer: Any) -> None:
    for hook in _on_identified:
        await hook(consumer)


async def run_disconnect_hooks(consumer: Any) -> None:
    for hook in _on_disconnected:
        await hook(consumer)
