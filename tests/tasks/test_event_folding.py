"""A loop folds into few audit rows, and the rows in `seq` order still tell the order in
which things happened: generations never fall, and no event moves before one it followed."""

import pytest

from tasks import queue
from tasks.models import Task, TaskEvent

pytestmark = pytest.mark.django_db


def trail(task: Task) -> list[tuple]:
    return list(
        TaskEvent.objects.filter(task=task)
        .order_by("seq")
        .values_list("event", "agent_id", "reason", "generation", "repeats")
    )


def assert_in_order(task: Task) -> None:
    rows = trail(task)
    generations = [row[3] for row in rows]
    assert generations == sorted(generations), rows
    task.refresh_from_db()
    assert [r.seq for r in TaskEvent.objects.filter(task=task).order_by("seq")] == list(
        range(1, task.event_count + 1)
    )


def reject(task: Task, agent) -> None:
    task.refresh_from_db()
    queue.reject_task(task.id, agent, task.generation, reason="not now")


def test_an_assign_reject_loop_folds_into_one_pair(make_agent, submit):
    agent = make_agent("looper", online=True)
    task = submit()
    for _ in range(5):
        queue.assign_task(task.id, agent.pk)
        reject(task, agent)
        assert_in_order(task)
    assert trail(task) == [
        ("queued", "", "submitted", 0, 1),
        ("assigned", "looper", "", 9, 5),
        ("rejected", "looper", "not now", 10, 5),
    ]


def test_half_a_round_stays_its_own_row_until_the_round_completes(make_agent, submit):
    agent = make_agent("looper", online=True)
    task = submit()
    for _ in range(2):
        queue.assign_task(task.id, agent.pk)
        reject(task, agent)
    queue.assign_task(task.id, agent.pk)
    assert [(*row[:2], row[4]) for row in trail(task)] == [
        ("queued", "", 1),
        ("assigned", "looper", 2),
        ("rejected", "looper", 2),
        ("assigned", "looper", 1),
    ]
    assert_in_order(task)


def test_an_event_never_folds_across_one_it_followed(make_agent, submit):
    """Two reclaims by one actor for one reason are not one loop when different agents
    held the task: each stays on its own row, after the assignment it ended."""
    first = make_agent("first", online=True)
    task = submit()
    queue.assign_task(task.id, first.pk)
    queue.reclaim_task(task.id, reason="operator", actor="ops")
    second = make_agent("second", online=True)
    queue.assign_task(task.id, second.pk)
    queue.reclaim_task(task.id, reason="operator", actor="ops")
    assert [row[:2] for row in trail(task)] == [
        ("queued", ""),
        ("assigned", "first"),
        ("reclaimed", "first"),
        ("assigned", "second"),
        ("reclaimed", "second"),
    ]
    assert_in_order(task)


def test_a_loop_broken_by_another_event_keeps_every_row(make_agent, submit):
    agent = make_agent("looper", online=True)
    task = submit()
    queue.assign_task(task.id, agent.pk)
    reject(task, agent)
    queue.assign_task(task.id, agent.pk)
    queue.reclaim_task(task.id, reason="operator", actor="ops")
    assert [row[0] for row in trail(task)] == [
        "queued",
        "assigned",
        "rejected",
        "assigned",
        "reclaimed",
    ]
    assert_in_order(task)
