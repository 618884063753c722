"""The local task: its allowed status moves, and queue.json written byte for byte as before."""

from __future__ import annotations

import pytest

from sidecar.localtask import IllegalMove, LocalTask
from sidecar.queuefile import QueueState, save_queue
from sidecar.slot import TaskSlot

ASSIGN = {
    "task_id": "task-2",
    "description": "é x",
    "metadata": {"k": 1},
    "generation": 3,
    "assigned_at": 7,
    "title": "T",
    "priority": 2,
    "complete_by": None,
}


def task_in(status: str) -> LocalTask:
    return LocalTask({"task_id": "t", "status": status})


def test_a_woken_task_moves_along_its_lifecycle():
    task = LocalTask.from_assign(ASSIGN)

    seen = [task.status]
    for status in ("waking", "waking_confirmation", "working", "failed"):
        task.move(status)
        seen.append(task.status)

    assert seen == ["accepted", "waking", "waking_confirmation", "working", "failed"]


@pytest.mark.parametrize(
    ("status", "to"),
    [
        ("accepted", "waking_confirmation"),
        ("waking", "working"),
        ("waking", "accepted"),
        ("working", "waking"),
        ("working", "accepted"),
        ("failed", "working"),
        ("failed", "failed"),
        ("paused", "working"),  # a status no sidecar writes
    ],
)
def test_an_illegal_move_is_refused_and_changes_nothing(status, to):
    task = task_in(status)

    with pytest.raises(IllegalMove) as refused:
        task.move(to)

    assert task.status == status
    assert refused.value.code == "illegal_move"
    assert str(refused.value) == f"task t cannot move from {status!r} to {to!r}"


@pytest.mark.parametrize("status", ["accepted", "waking", "waking_confirmation", "working"])
def test_any_live_status_may_fail(status):
    task = task_in(status)

    task.move("failed")

    assert task.status == "failed"


RECOVERABLE = ["accepted", "waking", "waking_confirmation", "working", "failed"]


@pytest.mark.parametrize("status", RECOVERABLE)
def test_recovery_of_a_confirmed_task_puts_it_back_to_working(status):
    task = task_in(status)

    task.recover(confirmed=True)

    assert task.status == "working"


@pytest.mark.parametrize("status", RECOVERABLE)
def test_recovery_of_an_unconfirmed_task_readies_it_for_another_wake(status):
    task = LocalTask({"task_id": "t", "status": status, "wake_attempts": 2})

    task.recover(confirmed=False)
    task.move("waking")

    assert (task.status, task.wake_attempts) == ("waking", 2)
    assert task.count_wake_attempt() == 3


NODE_QUEUE = """{
  "node_key": 1,
  "active": {
    "task_id": "task-1",
    "description": "d \u00e9",
    "metadata": {},
    "status": "waking",
    "assigned_at": 5,
    "wake_attempts": 1,
    "routing": {"x": 1}
  },
  "recovering": null
}"""

# Written by the sidecar before the task became an object; the format must not change.
RECOVERED_QUEUE = """{
  "node_key": 1,
  "active": null,
  "recovering": {
    "task_id": "task-1",
    "description": "d é",
    "metadata": {},
    "status": "working",
    "assigned_at": 5,
    "wake_attempts": 1,
    "routing": {
      "x": 1
    },
    "generation": 4
  },
  "pending_reports": []
}"""

WAKING_QUEUE = """{
  "active": {
    "task_id": "task-2",
    "description": "é x",
    "metadata": {
      "k": 1
    },
    "status": "waking",
    "assigned_at": 7,
    "generation": 3,
    "wake_attempts": 1,
    "title": "T",
    "priority": 2,
    "branch": "a/b",
    "git_warning": "dirty_working_tree"
  },
  "recovering": null,
  "pending_reports": [
    {
      "type": "task_failed",
      "task_id": "x",
      "generation": 1,
      "reason": "r"
    }
  ]
}"""


def test_a_node_queue_file_is_rewritten_with_its_unknown_fields_in_place(tmp_path):
    path = tmp_path / "queue.json"
    path.write_text(NODE_QUEUE, encoding="utf-8")
    slot = TaskSlot(path)

    recovered = slot.recover_at_start()
    assert recovered is not None
    recovered.set_generation(4)
    recovered.recover(confirmed=True)
    slot.save()

    assert path.read_text(encoding="utf-8") == RECOVERED_QUEUE


def test_a_new_task_is_written_in_the_node_field_order(tmp_path):
    path = tmp_path / "queue.json"
    task = LocalTask.from_assign(ASSIGN)
    task.move("waking")
    task.count_wake_attempt()
    task.note_branch("a/b")
    task.note_git_warning("dirty_working_tree")
    report = {"type": "task_failed", "task_id": "x", "generation": 1, "reason": "r"}

    save_queue(path, QueueState(active=task, pending_reports=[report]))

    assert path.read_text(encoding="utf-8") == WAKING_QUEUE
