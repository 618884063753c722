"""Messaging settings: live values operators change over HTTP, and fixed limits.

Live values (heartbeat interval, default repository, mailbox TTL) are persisted in
`ConfigValue` so every hub process and worker sees the same one. Limits come from
Django settings or the environment variable of the same name, with the protocol's
defaults (PROTOCOL.md §4.3, §4.4, §4.6).
"""

import os
from typing import Any

from django.conf import settings
from django.db import transaction

from agentcom_site.core.clock import now
from agentcom_site.core.storedjson import is_unreadable
from messaging.models import ConfigValue

HEARTBEAT_INTERVAL_MS = "heartbeat_interval_ms"
MAILBOX_TTL_MS = "mailbox_ttl_ms"
DEFAULT_REPO = "default_repo"
# The log level an operator set at run time (None: AGENTCOM_LOG_LEVEL); every process
# applies it (agentcom_site/operations/loglevel.py).
LOG_LEVEL = "log_level"

DEFAULTS: dict[str, Any] = {
    HEARTBEAT_INTERVAL_MS: 900_000,
    MAILBOX_TTL_MS: 7 * 24 * 3600 * 1000,
    DEFAULT_REPO: None,
    LOG_LEVEL: None,
}

CHANNEL_HISTORY_KEEP = 200  # messages kept per channel (PROTOCOL.md §4.3)
TRAFFIC_KEEP_DAYS = 7  # hourly buckets older than this are dropped
SESSIONS_KEEP_HOURS = 48  # connection time is reported over the last 24 hours


def _limit(name: str, default: int) -> int:
    value = getattr(settings, name, None)
    if value is None:
        raw = os.getenv(name)
        value = int(raw) if raw else default
    return int(value)


def mailbox_cap() -> int:
    """Entries kept per mailbox; the oldest are dropped beyond it (default 100)."""
    return _limit("AGENTCOM_MAILBOX_MAX_ENTRIES", 100)


def mailbox_max_bytes() -> int:
    """Payload bytes kept per mailbox; the oldest entries are dropped beyond it (2 MiB)."""
    return _limit("AGENTCOM_MAILBOX_MAX_BYTES", 2 * 1024 * 1024)


def channels_per_creator() -> int:
    """Channels one agent may create (default 20); operators are not capped."""
    return _limit("AGENTCOM_MAX_CHANNELS_PER_CREATOR", 20)


def history_keep() -> int:
    """Direct and broadcast messages kept in the global history (default 10 000)."""
    return _limit("AGENTCOM_HISTORY_KEEP", 10_000)


def get(key: str) -> Any:
    row = ConfigValue.objects.filter(key=key).values_list("value", flat=True).first()
    return DEFAULTS[key] if row is None or is_unreadable(row) else row


def put(key: str, value: Any, *, actor: str) -> Any:
    """Store a live value; returns it. Committed before returning."""
    with transaction.atomic():
        ConfigValue.objects.update_or_create(
            key=key, defaults={"value": value, "updated_at": now(), "updated_by": actor}
        )
    return value


def mailbox_ttl_ms() -> int:
    return int(get(MAILBOX_TTL_MS))


def heartbeat_interval_ms() -> int:
    return int(get(HEARTBEAT_INTERVAL_MS))


def default_repo() -> str | None:
    """The repository new agents clone at onboarding, or None when unset."""
    return get(DEFAULT_REPO) or None
