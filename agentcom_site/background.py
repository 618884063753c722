"""Background duties of a hub process: the scheduler loop, the sweep, socket liveness."""

import logging

log = logging.getLogger("agentcom.background")


def start(*, scheduler: bool, fresh_start: bool) -> None:
    """Start this process's background loops on the running event loop."""


def stop() -> None:
    """Stop the loops started by `start` (best effort, at process exit)."""
