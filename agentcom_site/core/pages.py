"""Pages bounded by bytes as well as by count (PROTOCOL.md §4).

A message payload may be up to 1 MiB, so 200 of them would make a 200 MiB page. Lists
of messages take items in order until their payloads pass a budget, always at least
one, and say that more remain; the client then asks again from the last item.
"""

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.conf import settings

T = TypeVar("T")


def json_bytes(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def within_budget(
    items: Iterable[T], payload: Callable[[T], Any], budget: int | None = None
) -> tuple[list[T], bool]:
    """The leading items whose payloads fit `budget` (AGENTCOM_PAGE_PAYLOAD_BYTES), at
    least one; and whether any were left out."""
    limit = settings.AGENTCOM_PAGE_PAYLOAD_BYTES if budget is None else budget
    page: list[T] = []
    used = 0
    for item in items:
        used += json_bytes(payload(item))
        if page and used > limit:
            return page, True
        page.append(item)
    return page, False
