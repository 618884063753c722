"""Wire time: integer milliseconds since the Unix epoch (PROTOCOL.md §1)."""

from datetime import UTC, datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()


def to_ms(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    return int(moment.timestamp() * 1000)


def from_ms(ms: int | None) -> datetime | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def now_ms() -> int:
    return to_ms(now())
