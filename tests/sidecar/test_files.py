"""queue.json persistence, result parsing and readiness, and the pending-report outbox."""

from __future__ import annotations

import json

import pytest

from sidecar import outbox
from sidecar.localtask import LocalTask
from sidecar.queuefile import QueueState, load_queue, save_queue
from sidecar.results import ResultWatcher, no_progress, parse_result


def test_queue_round_trip_keeps_unknown_fields(tmp_path):
    path = tmp_path / "queue.json"
    stored = LocalTask.from_assign({"task_id": "task-1", "generation": 2}).to_json()
    stored["routing"] = {"x": 1}
    state = QueueState(active=LocalTask(stored), extra={"node_key": True})

    save_queue(path, state)
    loaded = load_queue(path)

    assert loaded.active is not None and loaded.active.to_json() == stored
    assert loaded.recovering is None
    assert json.loads(path.read_text())["node_key"] is True
    assert [p.name for p in tmp_path.iterdir()] == ["queue.json"]  # no temp file left


@pytest.mark.parametrize("content", ["", "{", "[1]", '{"active": 5}', "null"])
def test_corrupt_or_odd_queue_is_empty(tmp_path, content):
    path = tmp_path / "queue.json"
    path.write_text(content)

    state = load_queue(path)

    assert (state.active, state.recovering, state.pending_reports) == (None, None, [])


def test_missing_queue_is_empty(tmp_path):
    assert load_queue(tmp_path / "queue.json").held() is None


def test_node_queue_file_is_read_as_is(tmp_path):
    path = tmp_path / "queue.json"
    node_task = {"task_id": "task-1", "status": "working", "generation": 1, "wake_attempts": 1}
    path.write_text(json.dumps({"active": node_task, "recovering": None}, indent=2))

    assert load_queue(path).active.to_json() == node_task


def test_new_local_task_uses_the_node_field_order():
    task = LocalTask.from_assign(
        {
            "task_id": "t",
            "description": "d",
            "metadata": {},
            "generation": 3,
            "assigned_at": 5,
            "title": "T",
        }
    )

    assert list(task.to_json())[:7] == [
        "task_id",
        "description",
        "metadata",
        "status",
        "assigned_at",
        "generation",
        "wake_attempts",
    ]
    assert task.status == "accepted" and task.get("title") == "T"


def test_success_result_keeps_the_whole_object():
    outcome = parse_result('{"status":"success","output":"hi","tokens_used":7,"extra":[1]}')

    assert outcome.success
    assert outcome.result == {"status": "success", "output": "hi", "tokens_used": 7, "extra": [1]}
    assert outcome.tokens_used == 7


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"status":"failed","reason":"r","error":"e"}', "r"),
        ('{"status":"failed","error":"e"}', "e"),
        ('{"status":"failed"}', "unknown"),
        ('{"status":"weird","reason":"r"}', "r"),
        ('{"output":"no status"}', "unknown"),
    ],
)
def test_failure_reason_precedence(text, reason):
    outcome = parse_result(text)

    assert not outcome.success
    assert outcome.reason == reason


def test_unparseable_result_names_the_parse_error():
    outcome = parse_result("{oops")

    assert not outcome.success
    assert outcome.reason.startswith("result_parse_error: Expecting property name")


def test_non_integer_tokens_are_not_reported():
    assert parse_result('{"status":"success","tokens_used":"7"}').tokens_used is None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_complete_json_result_is_ready_at_once(tmp_path):
    (tmp_path / "t.json").write_text('{"status":"success"}')
    watcher = ResultWatcher(tmp_path, stable_ms=500)

    assert watcher.ready_result("t") == '{"status":"success"}'


def test_partial_result_waits_until_stable(tmp_path):
    clock = Clock()
    (tmp_path / "t.json").write_text('{"status":"succ')
    watcher = ResultWatcher(tmp_path, stable_ms=500, clock=clock)

    first = watcher.ready_result("t")
    clock.now += 0.4
    early = watcher.ready_result("t")
    clock.now += 0.2
    late = watcher.ready_result("t")

    assert (first, early) == (None, None)
    assert late == '{"status":"succ'


def test_progress_is_delivered_once_per_change(tmp_path):
    watcher = ResultWatcher(tmp_path, stable_ms=0)
    (tmp_path / "t.progress").write_text('{"percent": 10}')

    first = watcher.new_progress("t")
    repeat = watcher.new_progress("t")
    (tmp_path / "t.progress").write_text("halfway")
    text = watcher.new_progress("t")

    assert first == {"percent": 10}
    assert no_progress(repeat)
    assert text == "halfway"


def test_ack_settles_only_the_matching_final_report():
    pending = [
        {"type": "task_complete", "task_id": "a"},
        {"type": "task_failed", "task_id": "b"},
    ]

    assert not outbox.settle_by_ack(pending, "a", "accepted")
    assert not outbox.settle_by_ack(pending, "a", "retried")
    assert outbox.settle_by_ack(pending, "a", "complete")
    assert outbox.settle_by_ack(pending, "b", "dead_letter")
    assert pending == []


def test_refusal_settles_the_report_it_names():
    pending = [{"type": "task_failed", "task_id": "a"}]

    assert not outbox.settle_by_error(pending, "a", "task_complete_failed: not_found")
    assert outbox.settle_by_error(pending, "a", "task_fail_failed: stale_generation")
    assert pending == []


def test_a_newer_report_replaces_the_older_one_of_the_same_task():
    pending: list[dict] = [{"type": "task_failed", "task_id": "a", "generation": 1}]

    outbox.add_report(pending, {"type": "task_complete", "task_id": "a", "generation": 2})

    assert pending == [{"type": "task_complete", "task_id": "a", "generation": 2}]
