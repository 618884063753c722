"""The local task slot persisted in queue.json (PROTOCOL.md §6.2).

The file is shared with the Node.js sidecar: ``{"active": task|null,
"recovering": task|null}``. The Python sidecar adds ``pending_reports``, the
completion frames the hub has not yet acknowledged; Node keeps unknown keys, so
the file stays interchangeable. Unknown keys and task fields are preserved as read.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sidecar.localtask import LocalTask


@dataclass
class QueueState:
    active: LocalTask | None = None
    recovering: LocalTask | None = None
    pending_reports: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def held(self) -> LocalTask | None:
        """The task occupying the slot, whether running or awaiting recovery."""
        return self.active or self.recovering

    def to_json(self) -> dict[str, Any]:
        document = dict(self.extra)
        document.update(
            active=_stored(self.active),
            recovering=_stored(self.recovering),
            pending_reports=self.pending_reports,
        )
        return document


def load_queue(path: Path) -> QueueState:
    """Read queue.json; a missing, unreadable or corrupt file is an empty queue."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return QueueState()
    if not isinstance(document, dict):
        return QueueState()
    reports = document.get("pending_reports")
    return QueueState(
        active=LocalTask.from_stored(document.get("active")),
        recovering=LocalTask.from_stored(document.get("recovering")),
        pending_reports=[r for r in reports if isinstance(r, dict)]
        if isinstance(reports, list)
        else [],
        extra={
            k: v
            for k, v in document.items()
            if k not in ("active", "recovering", "pending_reports")
        },
    )


def save_queue(path: Path, state: QueueState) -> None:
    """Replace queue.json atomically and durably: after return the new content survives a crash."""
    write_atomic(path, json.dumps(state.to_json(), indent=2, ensure_ascii=False))


def write_atomic(path: Path, text: str) -> None:
    """Write text via temp file, flush, fsync, rename, then fsync the directory."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(dir_fd)


def _stored(task: LocalTask | None) -> dict[str, Any] | None:
    return None if task is None else task.to_json()
