"""The hub's log lines: one JSON object per event, with its context, never a secret.

Standard library logging with a JSON formatter: every module already logs through
`logging.getLogger`, Django, daphne and Channels do too, and a formatter and two
filters on the one handler cover them all without another dependency.

- Context: `task_id`, `agent_id`, `request_id` and `socket_id` live in context
  variables, set where a request or socket begins (the HTTP middleware, the agent
  consumer) and copied by asgiref into the database thread, so a line logged deep in
  a service still names them. An `extra={"task_id": ...}` on one call wins.
- Format: JSON lines (`{"ts","level","logger","event",...}`, the sidecar's shape),
  or a readable line when stderr is a terminal; `AGENTCOM_LOG_FORMAT` forces either.
- Level: `AGENTCOM_LOG_LEVEL` at start; operators change it at run time
  (`PUT /api/admin/log-level`, operations/loglevel.py) through `set_level`.
- Redaction: tokens (64 hex characters), bearer headers, `token`/`join_key`/`secret`
  values and the configured secrets are masked in the message and the traceback.
"""

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

CONTEXT_FIELDS = ("task_id", "agent_id", "request_id", "socket_id")
_context: dict[str, ContextVar[str | None]] = {
    name: ContextVar(f"agentcom_log_{name}", default=None) for name in CONTEXT_FIELDS
}
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
REDACTED = "[redacted]"
MAX_CONTEXT_CHARS = 128

# What a LogRecord carries by itself; anything else came in `extra`.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


def bind(**values: str | None) -> None:
    """Set context fields for the rest of this task or request (socket, agent)."""
    for name, value in values.items():
        _context[name].set(_clip(value))


@contextlib.contextmanager
def bound(**values: str | None) -> Iterator[None]:
    """Context fields for the duration of a block (one request, one frame)."""
    tokens = [(name, _context[name].set(_clip(value))) for name, value in values.items()]
    try:
        yield
    finally:
        for name, token in reversed(tokens):
            _context[name].reset(token)


def current() -> dict[str, str]:
    return {name: value for name, var in _context.items() if (value := var.get()) is not None}


def _clip(value: Any) -> str | None:
    """A context value as logged: short, and masked (a frame's `task_id` is the client's
    text, and may hold anything)."""
    return None if value is None else redact(str(value)[:MAX_CONTEXT_CHARS])


# --- redaction ------------------------------------------------------------------------
_PATTERNS = (
    # Agent and operator tokens: 32 random bytes as hex (agents/models.py new_token).
    (re.compile(r"\b[0-9a-fA-F]{64}\b"), REDACTED),
    (re.compile(r"(?i)(bearer\s+)[^\s'\",]+"), r"\1" + REDACTED),
    # token=…, "token": "…", 'join_key': '…' (query strings, dicts, JSON).
    (
        re.compile(r"(?i)((?:token|join_key|secret|password)['\"]?\s*[:=]\s*['\"]?)[^\s'\",&}]+"),
        r"\1" + REDACTED,
    ),
)
# What the patterns need: a token's 64 characters, or one of these words. Most lines
# are shorter and have none, and looking for the words costs a tenth of the patterns.
_SECRET_WORDS = ("bearer", "token", "join_key", "secret", "password")


_secrets_of: tuple[object, list[str]] | None = None


def secrets_to_mask() -> list[str]:
    """The configured secrets, masked wherever they appear (at least 8 characters).
    Read again only when the settings object changes (tests override it)."""
    global _secrets_of
    from django.conf import settings

    holder = settings._wrapped
    if _secrets_of is not None and _secrets_of[0] is holder:
        return _secrets_of[1]
    values = [
        getattr(settings, name, "")
        for name in ("AGENTCOM_JOIN_KEY", "AGENTCOM_METRICS_TOKEN", "SECRET_KEY")
    ]
    found = [v for v in values if isinstance(v, str) and len(v) >= 8]
    _secrets_of = (holder, found)
    return found


def redact(text: str, secrets: list[str] | None = None) -> str:
    for secret in secrets if secrets is not None else _safe_secrets():
        if secret in text:
            text = text.replace(secret, REDACTED)
    if len(text) < 64 and not any(word in text.lower() for word in _SECRET_WORDS):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _safe_secrets() -> list[str]:
    try:
        return secrets_to_mask()
    except Exception:  # settings not configured yet (start-up)
        return []


class RedactionFilter(logging.Filter):
    """Masks secrets in the formatted message and the traceback of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _safe_secrets()
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = redact(message, secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        record.exc_info = None  # the formatters use the redacted exc_text
        return True


class ContextFilter(logging.Filter):
    """Copies the context fields onto the record (an explicit `extra` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _context.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


# --- formats ----------------------------------------------------------------------------


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    fields = {}
    for name, value in vars(record).items():
        if name in _RECORD_FIELDS or name in CONTEXT_FIELDS or name.startswith("_"):
            continue
        if value is None or isinstance(value, bool | int | float):
            fields[name] = value
        elif isinstance(value, str):
            fields[name] = redact(value[:1000])
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event, context, extra, exc."""

    encode = json.JSONEncoder(ensure_ascii=False, default=str).encode

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            if (value := getattr(record, name, None)) is not None:
                entry[name] = value
        entry.update(_extra(record))
        if record.exc_text:
            entry["exc"] = record.exc_text
        return self.encode(entry)


class ConsoleFormatter(logging.Formatter):
    """A line a person reads: time, level, logger, message, then the context."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        context = " ".join(
            f"{name}={value}"
            for name in CONTEXT_FIELDS
            if (value := getattr(record, name, None)) is not None
        )
        line = f"{moment} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if context:
            line = f"{line}  [{context}]"
        if record.exc_text:
            line = f"{line}\n{record.exc_text}"
        return line


def hub_formatter(style: str = "auto") -> logging.Formatter:
    """JSON, or the console format when `style` is "console", or "auto" on a terminal."""
    _lean_records()
    if style == "console" or (style == "auto" and sys.stderr.isatty()):
        return ConsoleFormatter()
    return JsonFormatter()


def _lean_records() -> None:
    """Neither format names a source line, thread or process: records skip finding them
    (the stack walk is a fifth of a line's cost), as the logging HOWTO's "Optimization"
    section describes."""
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False


# --- level ------------------------------------------------------------------------------


def set_level(level: str) -> bool:
    """Set the root level of this process; True when it changed."""
    root = logging.getLogger()
    before = root.level
    root.setLevel(level)
    return root.level != before


def current_level() -> str:
    return logging.getLevelName(logging.getLogger().level)
