"""Wire time: integer milliseconds since the Unix epoch (PROTOCOL.md §1)."""

from datetime import UTC, datetime


def now() -> datetime:
    """`timezone.now()` under the hub's `USE_TZ = True`, without reading the setting at
    each of a lifecycle's ~30 calls."""
    return datetime.now(UTC)


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
