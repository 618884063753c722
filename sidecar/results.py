"""Result files in results_dir and what they mean (§6.5).

For a task id the agent may write ``<id>.started`` (content ignored),
``<id>.progress`` (optional JSON) and ``<id>.json`` (the result). A file is
read once it is complete: at once when its content already parses as what it
should be (agents that write ``.tmp`` and rename always get this), otherwise
once its size and modification time have been stable for ``stable_ms``.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULT_SUFFIXES = (".json", ".started", ".progress")
_NOTHING = object()


@dataclass(frozen=True)
class ResultOutcome:
    """What a result file says: success with the whole object, or a failure reason."""

    success: bool
    result: dict[str, Any] | None
    reason: str | None

    @property
    def tokens_used(self) -> int | None:
        value = (self.result or {}).get("tokens_used")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_result(text: str) -> ResultOutcome:
    """Interpret a result file's text like the Node sidecar does."""
    try:
        result = json.loads(text)
    except ValueError as exc:
        return ResultOutcome(False, None, f"result_parse_error: {exc}")
    if not isinstance(result, dict):
        return ResultOutcome(False, None, "result_parse_error: the result is not a JSON object")
    if result.get("status") == "success":
        return ResultOutcome(True, result, None)
    reason = result.get("reason") or result.get("error") or "unknown"
    return ResultOutcome(False, result, reason if isinstance(reason, str) else json.dumps(reason))


def remove_result_files(results_dir: Path, task_id: str) -> None:
    """Delete every result file of task_id (missing files are fine)."""
    for suffix in RESULT_SUFFIXES:
        with contextlib.suppress(OSError):
            (results_dir / f"{task_id}{suffix}").unlink()


class ResultWatcher:
    """Answers, on each poll, what the agent has written for one task."""

    def __init__(
        self,
        results_dir: Path,
        *,
        stable_ms: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dir = results_dir
        self._stable_s = stable_ms / 1000
        self._clock = clock
        self._seen: dict[Path, tuple[tuple[int, int], float]] = {}
        self._last_progress: dict[str, str] = {}

    def started(self, task_id: str) -> bool:
        return (self._dir / f"{task_id}.started").exists()

    def last_written(self, task_id: str) -> float | None:
        """The newest modification time (wall clock) of the task's files, None if none exist."""
        times = []
        for suffix in RESULT_SUFFIXES:
            with contextlib.suppress(OSError):
                times.append((self._dir / f"{task_id}{suffix}").stat().st_mtime)
        return max(times, default=None)

    def ready_result(self, task_id: str) -> str | None:
        """The result file's text once complete, else None."""
        path = self._dir / f"{task_id}.json"
        text = self._read(path)
        if text is None:
            return None
        if _parses(text, want_object=True) or self._is_stable(path):
            self._seen.pop(path, None)
            return text
        return None

    def new_progress(self, task_id: str) -> Any:
        """A progress value not yet delivered (parsed JSON, or the text), else NOTHING."""
        path = self._dir / f"{task_id}.progress"
        text = self._read(path)
        if text is None or text == self._last_progress.get(task_id):
            return _NOTHING
        if _parses(text, want_object=False):
            value: Any = json.loads(text)
        elif self._is_stable(path):
            value = text.strip()
        else:
            return _NOTHING
        self._last_progress[task_id] = text
        return value

    def forget(self, task_id: str) -> None:
        """Drop the remembered state of task_id (its files are gone or no longer ours)."""
        self._last_progress.pop(task_id, None)
        for suffix in RESULT_SUFFIXES:
            self._seen.pop(self._dir / f"{task_id}{suffix}", None)

    def _read(self, path: Path) -> str | None:
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            self._seen.pop(path, None)
            return None

    def _is_stable(self, path: Path) -> bool:
        try:
            stat = path.stat()
        except OSError:
            return False
        signature = (stat.st_size, stat.st_mtime_ns)
        now = self._clock()
        previous = self._seen.get(path)
        if previous is None or previous[0] != signature:
            self._seen[path] = (signature, now)
            return self._stable_s <= 0
        return now - previous[1] >= self._stable_s


def no_progress(value: Any) -> bool:
    """True when ResultWatcher.new_progress had nothing new."""
    return value is _NOTHING


def _parses(text: str, *, want_object: bool) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) or not want_object
