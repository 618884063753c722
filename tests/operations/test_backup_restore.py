"""Backups of a running hub, restored into a fresh data directory and served again.

Real processes: a hub on a loopback port takes tasks and messages over HTTP while
`manage.py backup` copies its database; `manage.py restore` writes the copy into
another data directory, and a hub started there serves every task and message that
existed when the backup began.
"""

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from tests.e2e.harness import SCALED, Backend, HubProcess

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(SCALED, reason="SQLite backups; Postgres uses pg_dump (OPERATIONS.md)"),
]
QUIET = {"AGENTCOM_RATE_LIMITS": "0"}


class Writer:
    """Submits tasks and sends messages until stopped, noting each one the hub confirmed."""

    def __init__(self, hub: HubProcess, operator: str, sender: str) -> None:
        self.hub, self.operator, self.sender = hub, operator, sender
        self.tasks: list[tuple[str, str]] = []  # (task_id, description), in confirmation order
        self.messages: list[tuple[str, str]] = []  # (message_id, marker)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            n += 1
            description = f"backup run task {n}"
            status, body = self.hub.http(
                "POST", "/api/tasks", {"description": description}, token=self.operator
            )
            assert status == 201, body
            self.tasks.append((body["task_id"], description))
            marker = f"message {n}"
            payload = {"to": "reader", "payload": {"marker": marker}}
            status, body = self.hub.http("POST", "/api/message", payload, token=self.sender)
            assert status == 200, body
            self.messages.append((body["id"], marker))

    def confirmed(self) -> tuple[list, list]:
        return list(self.tasks), list(self.messages)


def test_a_backup_taken_mid_run_restores_every_task_and_message(tmp_path, backend, start_hub):
    tokens = backend.create_agents(["writer", "reader"])
    operator = backend.operator_token()
    hub = start_hub(QUIET)
    writer = Writer(hub, operator, tokens["writer"])
    writer.thread.start()
    try:
        while len(writer.tasks) < 20:  # the run is well under way
            writer.stopping.wait(0.05)
        tasks_before, messages_before = writer.confirmed()
        path = tmp_path / "saved" / "hub.sqlite3"
        out = backend.manage("backup", str(path))
        tasks_after, _ = writer.confirmed()
    finally:
        writer.stopping.set()
        writer.thread.join(30)
    assert "backup written to" in out
    assert len(tasks_after) > len(tasks_before)  # the hub kept taking work during the copy

    fresh = Backend(tmp_path / "fresh")
    restored = fresh.manage("restore", str(path))
    assert "previous file kept as" in restored
    assert "every check passed" in fresh.manage("check_integrity")
    second = HubProcess(fresh, env=QUIET, name="restored").start()
    try:
        for task_id, description in tasks_before:
            status, task = second.http("GET", f"/api/tasks/{task_id}", token=operator)
            assert status == 200, (task_id, task)
            assert task["description"] == description
        for message_id, marker in messages_before:
            status, thread = second.http("GET", f"/api/threads/{message_id}", token=operator)
            assert status == 200, (message_id, thread)
            assert marker in json.dumps(thread)
        status, mailbox = second.http("GET", "/api/mailbox/reader", token=tokens["reader"])
        # The reader's mailbox (its newest 100 letters at backup time) reads back whole.
        assert status == 200 and mailbox["count"] > 0
        for entry in mailbox["messages"]:
            assert entry["from"] == "writer"
            assert entry["payload"]["marker"].startswith("message ")
    finally:
        second.stop()


def test_restore_refuses_while_a_hub_holds_the_data_directory(tmp_path, backend, start_hub):
    start_hub()
    out = backend.manage("backup", str(tmp_path))  # a directory: a dated file inside it
    [path] = tmp_path.glob("agentcom-*.sqlite3")
    assert str(path) in out
    with pytest.raises(RuntimeError, match=r"another hub .* is using the data directory"):
        backend.manage("restore", str(path))


def test_restore_refuses_a_file_that_is_not_an_agentcom_database(tmp_path, backend):
    live = backend.data_dir / "agentcom.sqlite3"
    before = live.read_bytes()
    stranger = tmp_path / "other.sqlite3"
    sqlite3.connect(stranger).execute("CREATE TABLE notes (x)").connection.commit()
    with pytest.raises(RuntimeError, match="is not an AgentCom database"):
        backend.manage("restore", str(stranger))
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all")
    with pytest.raises(RuntimeError, match="is not an SQLite database"):
        backend.manage("restore", str(junk))
    assert live.read_bytes() == before
    assert not list(Path(backend.data_dir).glob("*.before-restore-*"))
