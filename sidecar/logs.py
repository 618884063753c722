"""JSON-lines logging to the log file and stdout (PROTOCOL.md §6.7).

Each line is one object: ``{"ts", "level", "event", "agent_id", "task_id", ...}``.
The agent token never reaches a log line: secret-named keys are masked and any
string containing the token has it replaced.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

REDACTED = "[REDACTED]"
SECRET_KEYS = frozenset({"token", "auth_token", "secret", "join_key"})
MAX_LOG_BYTES = 10 * 1024 * 1024
KEPT_LOG_FILES = 5


class EventLog:
    """Writes structured events; never raises on I/O trouble (logging must not stop the relay)."""

    def __init__(
        self,
        agent_id: str,
        log_file: Path | None,
        *,
        secret: str = "",
        stdout: IO[str] | None = None,
    ) -> None:
        self._agent_id = agent_id
        self._secret = secret
        self._stdout = stdout if stdout is not None else sys.stdout
        self._file: IO[str] | None = None
        if log_file is not None:
            self._file = _open_rotated(log_file)

    def debug(self, event: str, **fields: Any) -> None:
        self.write("debug", event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self.write("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.write("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.write("error", event, **fields)

    def write(self, level: str, event: str, **fields: Any) -> None:
        """Emit one line to stdout and the log file."""
        entry: dict[str, Any] = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": level,
            "event": event,
            "agent_id": self._agent_id,
            "task_id": fields.pop("task_id", None),
        }
        entry.update(fields)
        line = json.dumps(self._scrub(entry), ensure_ascii=False, default=str) + "\n"
        for stream in (self._stdout, self._file):
            if stream is None:
                continue
            try:
                stream.write(line)
                stream.flush()
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _scrub(self, value: Any, key: str | None = None) -> Any:
        if key in SECRET_KEYS and value:
            return REDACTED
        if isinstance(value, dict):
            return {k: self._scrub(v, k) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(item) for item in value]
        if isinstance(value, str) and self._secret and self._secret in value:
            return value.replace(self._secret, REDACTED)
        return value


def _open_rotated(log_file: Path) -> IO[str] | None:
    """Open the log for appending, rotating it first when it has grown past the size limit."""
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        if log_file.exists() and log_file.stat().st_size >= MAX_LOG_BYTES:
            for index in range(KEPT_LOG_FILES - 1, 0, -1):
                older = log_file.with_name(f"{log_file.name}.{index}")
                newer = (
                    log_file if index == 1 else log_file.with_name(f"{log_file.name}.{index - 1}")
                )
                if newer.exists():
                    newer.replace(older)
        return log_file.open("a", encoding="utf-8")
    except OSError as exc:
        print(f"sidecar: cannot open log file {log_file}: {exc}", file=sys.stderr)
        return None
