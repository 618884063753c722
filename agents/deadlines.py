"""Items each due at a moment, found without looking at the ones that are not due.

A heap of (deadline, entry): a check pops only the entries whose deadline has passed.
An item's deadline usually moves later without the heap hearing of it (a socket's
every frame would otherwise push an entry), so a popped item is asked for its deadline
again (`deadline_of`): still ahead, it goes back in at that moment; passed, it is due.
Entries of items watched anew or forgotten are left in the heap and skipped when they
surface; the heap holds numbers only, so a forgotten item is not kept alive by it, and
when skipped entries outnumber live ones the heap is rebuilt without them (sockets that
open and close faster than their deadlines come round).
"""

import heapq
import itertools
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)

# Skipped entries tolerated beyond the live ones before the heap is rebuilt.
COMPACT_SLACK = 1024


class Deadlines(Generic[T]):
    def __init__(self, deadline_of: Callable[[T], float]) -> None:
        self._deadline_of = deadline_of
        self._heap: list[tuple[float, int]] = []
        self._entry_of: dict[T, int] = {}  # each item's one live entry
        self._item_of: dict[int, T] = {}
        self._entries = itertools.count()

    def __len__(self) -> int:
        """Items watched (not heap entries)."""
        return len(self._entry_of)

    def watch(self, item: T, deadline: float) -> None:
        """Check `item` at `deadline`; replaces the moment it was watched for before."""
        self.forget(item)
        if len(self._heap) > 2 * len(self._entry_of) + COMPACT_SLACK:
            self._compact()
        entry = next(self._entries)
        self._entry_of[item] = entry
        self._item_of[entry] = item
        heapq.heappush(self._heap, (deadline, entry))

    def forget(self, item: T) -> None:
        entry = self._entry_of.pop(item, None)
        if entry is not None:
            del self._item_of[entry]

    def _compact(self) -> None:
        self._heap = [pair for pair in self._heap if pair[1] in self._item_of]
        heapq.heapify(self._heap)

    def overdue(self, moment: float) -> bool:
        """Whether some entry's deadline is before `moment` (it may turn out not due)."""
        return bool(self._heap) and self._heap[0][0] < moment

    def due(self, moment: float, *, limit: int) -> list[T]:
        """The items whose deadline is before `moment`, from at most `limit` entries
        looked at; they are no longer watched. Items found not yet due go back in."""
        found = []
        heap, item_of, entry_of = self._heap, self._item_of, self._entry_of
        for _ in range(limit):
            if not heap or heap[0][0] >= moment:
                break
            entry = heap[0][1]
            item = item_of.get(entry)
            if item is None:  # watched anew or forgotten since this entry was pushed
                heapq.heappop(heap)
                continue
            deadline = self._deadline_of(item)
            if deadline < moment:
                heapq.heappop(heap)
                del item_of[entry], entry_of[item]
                found.append(item)
            else:
                heapq.heapreplace(heap, (deadline, entry))  # one sift, not a pop and a push
        return found
