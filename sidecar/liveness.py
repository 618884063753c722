"""Whether anyone is known to work on the task, which decides the keepalive (§6.5).

The keepalive ``task_progress`` holds off the hub's stuck-task reclaim, so it is sent
only while the agent is known to be alive. The sidecar knows two signs of life:

* the wake command it started for the task is still running: an agent running in the
  foreground of its wake command, after it confirmed the task with ``.started``;
* the agent wrote one of its files, ``<id>.started``, ``<id>.progress`` or
  ``<id>.json``, within the last ``alive_window_ms`` (the hub's stuck window).

A wake command that exited and left an agent in the background therefore keeps its
task only by writing: ``python -m sidecar report``, or rewriting ``<id>.progress``.
Without a sign of life no keepalive is sent, and the hub's stuck reclaim takes the
task back once its own window has passed.
"""

from __future__ import annotations


def agent_alive(
    *, wake_running: bool, last_written: float | None, now: float, window_s: float
) -> bool:
    """last_written and now are wall-clock times (file modification times)."""
    if wake_running:
        return True
    return last_written is not None and now - last_written < window_s
