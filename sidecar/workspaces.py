"""Where a task's work happens on this machine.

One seam for every part of the sidecar that touches the task's files (the git
wrapper, the executors, verification): ask here, never read ``repo_dir`` directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sidecar.config import SidecarConfig


def task_workdir(config: SidecarConfig, task: dict[str, Any] | None = None) -> Path | None:
    """The git checkout task works in, or None when this sidecar has none (no repo_dir)."""
    return config.repo_dir
