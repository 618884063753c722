"""The deadline heap behind socket liveness: a check looks only at what is due."""

import gc
import weakref

from agents import deadlines
from agents.deadlines import Deadlines


class Item:
    """A socket stand-in whose deadline can move without the heap being told."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline


def heap_of(items: list[Item]) -> tuple[Deadlines[Item], list[Item]]:
    asked: list[Item] = []

    def deadline_of(item: Item) -> float:
        asked.append(item)
        return item.deadline

    watched = Deadlines(deadline_of)
    for item in items:
        watched.watch(item, item.deadline)
    return watched, asked


def test_a_check_looks_only_at_the_items_whose_deadline_passed():
    items = [Item(float(i)) for i in range(1000)]
    watched, asked = heap_of(items)

    assert watched.due(10.0, limit=100) == items[:10]
    assert asked == items[:10]
    assert len(watched) == 990  # the due ones are no longer watched
    assert watched.due(10.0, limit=100) == []


def test_an_item_whose_deadline_moved_goes_back_in_and_comes_due_later():
    early, moved = Item(1.0), Item(2.0)
    watched, _ = heap_of([early, moved])
    moved.deadline = 20.0  # a frame arrived since it was watched

    assert watched.due(5.0, limit=10) == [early]
    assert not watched.overdue(5.0) and len(watched) == 1
    assert watched.due(20.0, limit=10) == []  # due only after its new deadline
    assert watched.due(20.5, limit=10) == [moved]


def test_watching_again_replaces_the_earlier_deadline():
    item = Item(1.0)
    watched, asked = heap_of([item])
    item.deadline = 30.0
    watched.watch(item, 30.0)

    assert watched.due(10.0, limit=10) == []
    assert asked == []  # the replaced entry is skipped without asking
    assert watched.due(31.0, limit=10) == [item]
    assert watched.due(100.0, limit=10) == []  # found once, not once per entry


def test_a_forgotten_item_is_never_due_and_not_kept_alive():
    kept, gone = Item(1.0), Item(1.0)
    watched, _ = heap_of([kept, gone])
    watched.forget(gone)
    alive = weakref.ref(gone)
    del gone
    gc.collect()

    assert alive() is None
    assert watched.due(5.0, limit=10) == [kept]


def test_a_check_pops_at_most_its_limit_and_says_whether_more_are_overdue():
    items = [Item(float(i)) for i in range(5)]
    watched, _ = heap_of(items)

    assert watched.due(10.0, limit=3) == items[:3]
    assert watched.overdue(10.0)
    assert watched.due(10.0, limit=3) == items[3:]
    assert not watched.overdue(10.0)


def test_skipped_entries_do_not_pile_up(monkeypatch):
    monkeypatch.setattr(deadlines, "COMPACT_SLACK", 10)
    watched, _ = heap_of([])
    live = Item(1e9)
    watched.watch(live, live.deadline)
    for _ in range(1000):  # sockets that open and close long before their deadline
        brief = Item(1e9)
        watched.watch(brief, brief.deadline)
        watched.forget(brief)

    assert len(watched._heap) <= 2 * len(watched) + 10 + 1
    assert watched.due(2e9, limit=2000) == [live]
