"""Task HTTP routes: success shapes and every refusal, each leaving the database unchanged."""

import json

import pytest
from django.test import Client

from tasks.models import Task, TaskEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(make_agent, agent_token):
    token = agent_token(make_agent("ci-bot"))
    return Client(headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def ops_client(operator_token):
    return Client(headers={"Authorization": f"Bearer {operator_token}"})


def post(client: Client, path: str, body) -> tuple[int, dict]:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    response = client.post(path, data, content_type="application/json")
    return response.status_code, response.json()


def test_health_is_public():
    response = Client().get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "service": "agent_com",
        "agents_connected": 0,
        "dispatch": {"paused": False, "paused_capabilities": []},
    }


def test_submit_returns_201_with_the_protocol_shape(agent_client):
    status, body = post(
        agent_client, "/api/tasks", {"description": "say hello", "priority": "HIGH"}
    )
    assert status == 201
    assert set(body) == {"status", "task_id", "title", "priority", "created_at", "warnings"}
    assert body["warnings"] == []
    assert body["status"] == "queued" and body["priority"] == 1 and body["title"] == "say hello"
    assert body["task_id"].startswith("task-") and isinstance(body["created_at"], int)
    task = Task.objects.get(pk=body["task_id"])
    assert task.submitted_by == "ci-bot"


def test_legacy_priority_name_and_capability_objects(agent_client):
    status, body = post(
        agent_client,
        "/api/tasks",
        {
            "description": "x",
            "priority": "critical",
            "needed_capabilities": ["code", {"name": "py"}, "code"],
        },
    )
    assert status == 201 and body["priority"] == 0
    assert Task.objects.get(pk=body["task_id"]).needed_capabilities == ["code", "py"]


def test_idempotent_replay_returns_200_and_the_same_task(agent_client):
    first_status, first = post(
        agent_client, "/api/tasks", {"description": "x", "idempotency_key": "k"}
    )
    again_status, again = post(
        agent_client, "/api/tasks", {"description": "y", "idempotency_key": "k"}
    )
    assert (first_status, again_status) == (201, 200)
    assert again["task_id"] == first["task_id"] and Task.objects.count() == 1


def test_get_task_shows_it_queued_with_history_newest_first(agent_client, ops_client):
    _, created = post(agent_client, "/api/tasks", {"description": "x"})
    post(ops_client, f"/api/tasks/{created['task_id']}/cancel", {"reason": "changed my mind"})
    record = agent_client.get(f"/api/tasks/{created['task_id']}").json()
    assert record["status"] == "cancelled" and record["generation"] == 0
    assert [h["event"] for h in record["history"]] == ["cancelled", "queued"]
    assert record["history"][0]["details"] == "changed my mind"
    assert isinstance(record["history"][0]["timestamp"], int)


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        ({}, "description", "required"),
        ({"description": 5}, "description", "wrong_type"),
        ({"description": "x" * 10_001}, "description", "too_long"),
        ({"description": "x", "priority": 7}, "priority", "out_of_range"),
        ({"description": "x", "priority": "soon"}, "priority", "invalid_value"),
        ({"description": "x", "priority": True}, "priority", "wrong_type"),
        ({"description": "x", "metadata": []}, "metadata", "wrong_type"),
        ({"description": "x", "max_retries": 101}, "max_retries", "out_of_range"),
        ({"description": "x", "max_retries": "3"}, "max_retries", "wrong_type"),
        (
            {"description": "x", "needed_capabilities": ["a", 3]},
            "needed_capabilities[1]",
            "wrong_type",
        ),
        ({"description": "x", "title": "t" * 201}, "title", "too_long"),
        (
            {"description": "x", "depends_on": ["task-0123456789abcdef"]},
            "depends_on[0]",
            "not_found",
        ),
        ({"description": "x", "assign_to": "nobody"}, "assign_to", "not_found"),
    ],
)
def test_invalid_bodies_get_422_naming_the_field(agent_client, body, field, error):
    status, answer = post(agent_client, "/api/tasks", body)
    assert status == 422, answer
    assert answer["error"] == "validation_failed" and answer["detail"]
    assert {"field": field, "error": error} in [
        {"field": e["field"], "error": e["error"]} for e in answer["errors"]
    ]
    assert Task.objects.count() == 0 and TaskEvent.objects.count() == 0


def test_malformed_json_non_object_and_huge_bodies(agent_client):
    status, body = post(agent_client, "/api/tasks", "{not json")
    assert status == 400 and body["error"] == "invalid_json"
    status, body = post(agent_client, "/api/tasks", "[1, 2]")
    assert status == 422 and body["errors"][0]["field"] is None
    status, body = post(
        agent_client, "/api/tasks", json.dumps({"description": "x" * (1024 * 1024 + 10)})
    )
    assert status == 413 and body["error"] == "payload_too_large"
    response = agent_client.post(
        "/api/tasks", b"--x--", content_type="multipart/form-data; boundary=x"
    )
    assert response.status_code == 415 and response.json()["error"] == "unsupported_media_type"
    assert Task.objects.count() == 0


@pytest.mark.parametrize("header", [None, "Bearer " + "0" * 64, "Bearer nonsense", "Basic abc"])
def test_missing_or_wrong_tokens_are_401(header):
    client = Client(headers={"Authorization": header} if header else {})
    response = client.post(
        "/api/tasks", json.dumps({"description": "x"}), content_type="application/json"
    )
    assert response.status_code == 401
    assert response.json() == {
        "error": "unauthorized",
        "detail": "a valid token is required",
        "hint": "provide Authorization: Bearer <token>",
    }
    assert Task.objects.count() == 0


def test_revoked_token_is_refused(make_agent, agent_token):
    from agents.tokens import revoke_agent_tokens

    token = agent_token(make_agent("gone"))
    revoke_agent_tokens("gone")
    client = Client(headers={"Authorization": f"Bearer {token}"})
    assert client.get("/api/tasks").status_code == 401


def test_unknown_task_is_404_with_its_id(agent_client):
    response = agent_client.get("/api/tasks/task-0000000000000000")
    assert response.status_code == 404
    assert response.json()["error"] == "task_not_found"
    assert response.json()["task_id"] == "task-0000000000000000"


def test_list_filters_order_and_pagination(agent_client, submit):
    low = submit("low", priority=3, submitted_by="ci-bot")
    urgent = submit("urgent", priority=0, submitted_by="ci-bot")
    submit("other", priority=2, submitted_by="someone-else")
    body = agent_client.get("/api/tasks", {"submitted_by": "ci-bot"}).json()
    assert [t["id"] for t in body["tasks"]] == [urgent.id, low.id]
    assert body["count"] == 2 and body["total"] == 2
    page = agent_client.get("/api/tasks", {"limit": 1, "offset": 1}).json()
    assert page["count"] == 1 and page["total"] == 3
    assert agent_client.get("/api/tasks", {"priority": "low"}).json()["tasks"][0]["id"] == low.id
    for bad in (
        {"limit": "abc"},
        {"limit": 0},
        {"limit": 1001},
        {"status": "nope"},
        {"priority": "9"},
    ):
        response = agent_client.get("/api/tasks", bad)
        assert response.status_code == 422, bad
        assert response.json()["error"] == "validation_failed"


def test_stats_has_every_key(agent_client, submit):
    submit(priority=0)
    stats = agent_client.get("/api/tasks/stats").json()
    assert set(stats) == {"by_status", "by_priority", "dead_letter", "queued_index_size"}
    assert stats["by_status"]["queued"] == 1 and stats["by_status"]["completed"] == 0
    assert stats["by_priority"]["0"] == 1 and stats["queued_index_size"] == 1


def test_dead_letter_list_and_retry(agent_client, make_agent, submit):
    from tasks import queue

    agent = make_agent("worker", online=True)
    task = submit(max_retries=1)
    queue.assign_task(task.id, agent.pk)
    task.refresh_from_db()
    queue.fail_task(task.id, agent, task.generation, error="broken")
    listed = agent_client.get("/api/tasks/dead-letter").json()
    assert listed["count"] == 1 and listed["tasks"][0]["last_error"] == "broken"
    status, body = post(agent_client, f"/api/tasks/{task.id}/retry", {})
    assert status == 200 and body == {"status": "requeued", "task_id": task.id, "priority": 2}
    status, body = post(agent_client, f"/api/tasks/{task.id}/retry", {})
    assert status == 409 and body["error"] == "invalid_state" and body["status"] == "queued"


def test_cancel_is_for_operators_and_the_submitter(agent_client, make_agent, agent_token, submit):
    task = submit(submitted_by="ci-bot")
    stranger = Client(headers={"Authorization": f"Bearer {agent_token(make_agent('stranger'))}"})
    status, body = post(stranger, f"/api/tasks/{task.id}/cancel", {})
    assert status == 403 and body["error"] == "forbidden"
    task.refresh_from_db()
    assert task.status == "queued"
    status, body = post(agent_client, f"/api/tasks/{task.id}/cancel", {})
    assert status == 200 and body == {"status": "cancelled", "task_id": task.id}
    status, body = post(agent_client, f"/api/tasks/{task.id}/cancel", {})
    assert status == 409 and body["error"] == "invalid_state"


def test_push_task_needs_an_operator_and_a_connected_idle_agent(
    agent_client, ops_client, make_agent
):
    status, body = post(agent_client, "/api/admin/push-task", {"agent_id": "x", "description": "d"})
    assert status == 403
    status, body = post(
        ops_client, "/api/admin/push-task", {"agent_id": "ghost", "description": "d"}
    )
    assert status == 404 and body["error"] == "agent_not_connected"
    make_agent("worker", online=True)
    status, body = post(
        ops_client, "/api/admin/push-task", {"agent_id": "worker", "description": "d"}
    )
    assert status == 200 and body["status"] == "pushed"
    task = Task.objects.get(pk=body["task_id"])
    assert (
        task.status == "assigned" and task.generation == 1 and task.submitted_by == "operator:ops"
    )
    status, body = post(
        ops_client, "/api/admin/push-task", {"agent_id": "worker", "description": "e"}
    )
    assert status == 409 and body["error"] == "agent_busy"
    assert Task.objects.count() == 1


def test_unknown_routes_and_methods_answer_in_json(agent_client):
    response = agent_client.get("/api/nothing-here")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    response = agent_client.delete("/api/tasks/stats")
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


def test_openapi_schema_lists_the_task_routes():
    schema = Client().get("/api/openapi.json").json()
    assert "/api/tasks" in schema["paths"] and "/api/tasks/{task_id}/cancel" in schema["paths"]
    assert Client().get("/api/docs").status_code == 200


def test_staff_session_acts_as_operator(django_user_model, submit):
    user = django_user_model.objects.create_user("alice", password="pw", is_staff=True)
    client = Client()
    client.force_login(user)
    task = submit()
    assert client.get(f"/api/tasks/{task.id}").status_code == 200
    client_csrf = Client(enforce_csrf_checks=True)
    client_csrf.force_login(user)
    response = client_csrf.post(
        f"/api/tasks/{task.id}/cancel", "{}", content_type="application/json"
    )
    assert response.status_code == 403
    task.refresh_from_db()
    assert task.status == "queued"


def test_batch_submits_every_task_in_order_and_replays_idempotently(agent_client):
    body = {
        "tasks": [
            {"description": "first", "priority": "low", "idempotency_key": "k1"},
            {"description": "second", "needed_capabilities": ["code"]},
            {"description": "third", "priority": 0},
        ]
    }
    status, reply = post(agent_client, "/api/tasks/batch", body)
    assert status == 201 and reply["created"] == 3
    assert [t["title"] for t in reply["tasks"]] == ["first", "second", "third"]
    assert [t["priority"] for t in reply["tasks"]] == [3, 2, 0]
    assert all(t["created"] and t["status"] == "queued" for t in reply["tasks"])
    assert Task.objects.count() == 3 and TaskEvent.objects.count() == 3
    assert Task.objects.get(pk=reply["tasks"][1]["task_id"]).capability_key == "code"

    status, replay = post(agent_client, "/api/tasks/batch", {"tasks": [body["tasks"][0]]})
    assert status == 200 and replay["created"] == 0
    assert replay["tasks"][0]["task_id"] == reply["tasks"][0]["task_id"]
    assert Task.objects.count() == 3


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        ({}, "tasks", "required"),
        ({"tasks": []}, "tasks", "invalid_value"),
        ({"tasks": [{"description": "x"}] * 501}, "tasks", "too_long"),
        ({"tasks": [{"description": "ok"}, {"priority": 1}]}, "tasks[1].description", "required"),
        (
            {"tasks": [{"description": "ok"}, {"description": "x", "priority": "soon"}]},
            "tasks[1].priority",
            "invalid_value",
        ),
        (
            {"tasks": [{"description": "ok"}, {"description": "x", "assign_to": "nobody"}]},
            "tasks[1].assign_to",
            "not_found",
        ),
        (
            {"tasks": [{"description": "ok"}, {"description": "x", "depends_on": ["task-0"]}]},
            "tasks[1].depends_on[0]",
            "not_found",
        ),
    ],
)
def test_a_bad_batch_is_refused_whole_and_names_the_entry(agent_client, body, field, error):
    status, reply = post(agent_client, "/api/tasks/batch", body)
    assert status == 422 and reply["error"] == "validation_failed"
    assert reply["errors"][0]["field"] == field and reply["errors"][0]["error"] == error
    assert Task.objects.count() == 0 and TaskEvent.objects.count() == 0
