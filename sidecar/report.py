"""Writing result files for an agent (``python -m sidecar report|started``, §6.5).

Files are written as ``<name>.tmp`` and renamed into place, so the sidecar
never reads a half-written result.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def build_result(
    *,
    status: str,
    output: str | None = None,
    pr_url: str | None = None,
    tokens_used: int | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """The result object for `<task_id>.json`; absent values are left out."""
    result: dict[str, Any] = {"status": status}
    for key, value in (
        ("output", output),
        ("pr_url", pr_url),
        ("tokens_used", tokens_used),
        ("reason", reason),
    ):
        if value is not None:
            result[key] = value
    return result


def write_result(results_dir: Path, task_id: str, result: dict[str, Any]) -> Path:
    """Atomically write `<results_dir>/<task_id>.json` and return its path."""
    return _write_renamed(results_dir / f"{task_id}.json", json.dumps(result, ensure_ascii=False))


def write_started(results_dir: Path, task_id: str) -> Path:
    """Atomically write `<results_dir>/<task_id>.started` and return its path."""
    return _write_renamed(results_dir / f"{task_id}.started", "")


def write_progress(results_dir: Path, task_id: str, value: str) -> Path:
    """Atomically write `<results_dir>/<task_id>.progress`; writing it again, even unchanged,
    tells the sidecar the agent is still alive."""
    return _write_renamed(results_dir / f"{task_id}.progress", value)


def _write_renamed(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path
