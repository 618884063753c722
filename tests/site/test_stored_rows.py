"""Reads never fail because of one stored row; `check_data` finds such rows.

Rows are damaged with raw SQL, as a hub without the gate (or a hand edit) could have
left them: the models would refuse to write these values today.
"""

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from messaging import routing
from messaging.models import Message
from tasks.models import Task

pytestmark = pytest.mark.django_db

# Deep enough to exhaust the parser's recursion; SQLite's own JSON check allows 1 000.
DEEP = "[" * 999 + "]" * 999
BAD = {
    "deep": DEEP,
    "inf": '{"x": 1e400}',
    "huge": '{"x": 123456789012345678901234567890}',
    "nul": '{"x": "a\\u0000b"}',
    "surrogate": '{"x": "\\udcff"}',
}
# Postgres' jsonb refuses NUL and lone surrogates itself: such rows cannot exist there.
NOT_STORABLE_ON_POSTGRES = ("nul", "surrogate")


def storable() -> dict[str, str]:
    if connection.vendor == "postgresql":
        return {k: v for k, v in BAD.items() if k not in NOT_STORABLE_ON_POSTGRES}
    return BAD


def damage(model, pk, field: str, raw: str) -> None:
    quote = connection.ops.quote_name
    column = model._meta.get_field(field).column
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(model._meta.db_table)} SET {quote(column)} = %s "
            f"WHERE {quote(model._meta.pk.column)} = %s",
            [raw, pk],
        )


@pytest.fixture
def damaged(submit, make_agent):
    """Five tasks and a message whose JSON columns hold what the gate refuses."""
    tasks = {}
    for kind, raw in storable().items():
        task = submit(f"task with {kind} metadata")
        damage(Task, task.pk, "metadata", raw)
        damage(Task, task.pk, "result", raw)
        tasks[kind] = task
    make_agent("beta")  # a direct message needs a registered recipient
    message = routing.send_message(sender="alpha", to="beta", payload={"ok": 1})
    damage(Message, message.pk, "payload", BAD["deep"])
    return tasks, message


def test_bad_stored_json_reads_as_unreadable(damaged):
    tasks, message = damaged
    for kind, task in tasks.items():
        row = Task.objects.get(pk=task.pk)
        assert set(row.metadata) == {"unreadable"} and set(row.result) == {"unreadable"}, kind
    assert "nests 999 levels" in Message.objects.get(pk=message.pk).payload["unreadable"]


def test_task_and_message_reads_still_render(damaged, ops, api_for):
    tasks, _ = damaged
    status, body = ops.get("/api/tasks")
    assert status == 200 and body["count"] == len(storable())
    assert all(t["metadata"] is None for t in body["tasks"])  # lists carry summaries (§4.5)
    status, body = ops.get(f"/api/tasks/{tasks['inf'].id}")
    # SQLite keeps 1e400 as a float (infinite); Postgres' jsonb as a 401-digit integer.
    reason = body["metadata"]["unreadable"]
    assert status == 200 and ("NaN or infinite" in reason or "64-bit" in reason)
    status, body = api_for("beta").get("/api/messages")
    assert status == 200 and set(body["messages"][0]["payload"]) == {"unreadable"}
    status, body = api_for("beta").get("/api/mailbox/beta")
    assert status == 200 and body["count"] == 1


def test_dashboard_and_admin_still_render(damaged, ops, admin_client):
    tasks, _ = damaged
    status, _ = ops.get("/api/dashboard/state")
    assert status == 200
    for path in ["/dashboard", "/dashboard/tasks", f"/dashboard/tasks/{tasks['deep'].id}"]:
        response = admin_client.get(path)
        assert response.status_code == 200, path
    assert b"unreadable" in admin_client.get(f"/dashboard/tasks/{tasks['huge'].id}").content
    for task in tasks.values():
        response = admin_client.get(f"/admin/tasks/task/{task.pk}/change/")
        assert response.status_code == 200 and b"unreadable" in response.content
    assert admin_client.get("/admin/messaging/message/").status_code == 200


def test_check_data_lists_each_bad_value_and_fails(damaged, capsys):
    tasks, message = damaged
    with pytest.raises(CommandError, match=f"{2 * len(tasks) + 1} stored value"):
        call_command("check_data")
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    found = {(model, pk, field) for model, pk, field, _ in lines}
    expected = {("tasks.Task", t.pk, f) for t in tasks.values() for f in ("metadata", "result")}
    assert found == expected | {("messaging.Message", str(message.pk), "payload")}


def test_check_data_passes_on_clean_rows(submit, capsys):
    submit("fine", metadata={"k": [1, 2.5, "x"]})
    call_command("check_data")
    assert "no problems found" in capsys.readouterr().out


def test_check_data_names_agent_ids_stored_before_the_pattern(make_agent, capsys):
    agent = make_agent("fine-1")
    damage(type(agent), agent.pk, "agent_id", "bad id:1")
    with pytest.raises(CommandError):
        call_command("check_data")
    assert "'bad id:1' does not match" in capsys.readouterr().out


def test_good_values_read_back_unchanged(submit):
    metadata = {"a": [1, -(2**63), 2**63 - 1, 0.5, None, True, "é\u2603"], "b": {"c": {}}}
    task = submit("fine", metadata=metadata)
    assert Task.objects.get(pk=task.pk).metadata == json.loads(json.dumps(metadata))
