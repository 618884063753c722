"""POST /api/tasks/<id>/answer (PROTOCOL.md §3.9): who may answer, what a task must be,
what a body may hold; and what the sweep leaves alone while a task waits."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentcom_site.core.clock import now
from tasks import queue, sweep
from tasks.models import Task, TaskEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(assigned):
    """A task whose holder (with the feature) asked a question: (task, agent)."""

    def make(agent_id: str = "asker", **fields) -> tuple[Task, object]:
        task, agent = assigned(agent_id, **fields)
        agent.features = ["input_required"]
        agent.save(update_fields=["features"])
        queue.accept_task(task.id, agent)
        queue.ask_operator(task.id, agent, task.generation, question="which colour?")
        task.refresh_from_db()
        return task, agent

    return make


def post(client: Client, path: str, body) -> tuple[int, dict]:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    response = client.post(path, data, content_type="application/json")
    return response.status_code, response.json()


def answer_path(task: Task) -> str:
    return f"/api/tasks/{task.id}/answer"


def test_anonymous_is_401_and_changes_nothing(waiting):
    task, _ = waiting()
    status, body = post(Client(), answer_path(task), {"answer": "blue"})
    assert (status, body["error"]) == (401, "unauthorized")
    task.refresh_from_db()
    assert task.status == "input_required" and task.answer_id == 0


def test_an_agent_is_403_even_the_holder(waiting, agent_token, make_agent):
    task, holder = waiting()
    for agent in (holder, make_agent("bystander")):
        client = Client(headers={"Authorization": f"Bearer {agent_token(agent)}"})
        status, body = post(client, answer_path(task), {"answer": "blue"})
        assert (status, body["error"]) == (403, "forbidden")
    task.refresh_from_db()
    assert task.status == "input_required" and task.answer == ""


def test_an_operator_token_answers(waiting, operator_token):
    task, _ = waiting()
    client = Client(headers={"Authorization": f"Bearer {operator_token}"})
    status, body = post(client, answer_path(task), {"answer": "blue"})
    assert (status, body) == (200, {"status": "working", "task_id": task.id, "answer_id": 1})
    task.refresh_from_db()
    assert (task.status, task.answer, task.answered_by) == ("working", "blue", "operator:ops")
    assert task.answered_at is not None
    event = task.events.order_by("-seq").first()
    assert (event.event, event.actor, event.details) == (
        "input_answered",
        "operator:ops",
        {"answer_id": 1},
    )


def test_a_staff_session_needs_csrf(waiting, staff):
    task, _ = waiting()
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    status, body = post(client, answer_path(task), {"answer": "blue"})
    assert (status, body["error"]) == (403, "forbidden")
    task.refresh_from_db()
    assert task.status == "input_required"
    # The same session with a valid CSRF token (the test client's default) answers.
    client = Client()
    client.force_login(staff)
    status, body = post(client, answer_path(task), {"answer": "blue"})
    assert (status, body["answer_id"]) == (200, 1)


def test_only_a_waiting_task_can_be_answered(assigned, operator_token):
    task, _ = assigned()
    client = Client(headers={"Authorization": f"Bearer {operator_token}"})
    status, body = post(client, answer_path(task), {"answer": "blue"})
    assert (status, body["error"], body["status"]) == (409, "invalid_state", "assigned")
    status, body = post(client, "/api/tasks/task-ffffffffffffffff/answer", {"answer": "x"})
    assert (status, body["error"]) == (404, "task_not_found")
    task.refresh_from_db()
    assert task.answer_id == 0 and not task.events.filter(event="input_answered").exists()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "required"),
        ({"answer": ""}, "invalid_value"),
        ({"answer": "a" * 8001}, "too_long"),
        ({"answer": 5}, "wrong_type"),
        ({"answer": ["blue"]}, "wrong_type"),
        ({"answer": "bad\u0000nul"}, "invalid_value"),
    ],
)
def test_bad_answers_are_422_naming_the_field(waiting, operator_token, body, error):
    task, _ = waiting()
    client = Client(headers={"Authorization": f"Bearer {operator_token}"})
    status, reply = post(client, answer_path(task), body)
    assert status == 422 and reply["error"] == "validation_failed"
    assert {"field": "answer", "error": error} in [
        {"field": e["field"], "error": e["error"]} for e in reply["errors"]
    ]
    task.refresh_from_db()
    assert task.status == "input_required"


def test_the_longest_answer_is_accepted(waiting, operator_token):
    task, _ = waiting()
    client = Client(headers={"Authorization": f"Bearer {operator_token}"})
    status, _ = post(client, answer_path(task), {"answer": "a" * 8000})
    assert status == 200


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(
        st.dictionaries(
            st.sampled_from(["answer", "x", "token"]),
            st.one_of(
                st.text(max_size=9000),
                st.integers(),
                st.none(),
                st.booleans(),
                st.floats(allow_nan=False),
                st.lists(st.text(max_size=5), max_size=3),
            ),
        ),
        st.lists(st.integers(), max_size=3),
        st.text(max_size=50),
    )
)
def test_hostile_bodies_never_break_the_route(waiting_task, operator_token, body):
    client = Client(headers={"Authorization": f"Bearer {operator_token}"})
    response = client.post(
        answer_path(waiting_task), json.dumps(body), content_type="application/json"
    )
    assert response.status_code in (200, 400, 409, 422), response.content
    assert response.json()["error" if response.status_code != 200 else "status"]


@pytest.fixture
def waiting_task(waiting):
    return waiting()[0]


def test_the_timers_leave_a_waiting_task_alone_but_not_its_deadline(waiting, settings):
    settings.AGENTCOM_STUCK_AFTER_S = 1
    settings.AGENTCOM_ACCEPT_TIMEOUT_S = 1
    task, agent = waiting()
    long_ago = now() - timedelta(hours=2)
    Task.objects.filter(pk=task.pk).update(last_activity_at=long_ago, asked_at=long_ago)
    report = sweep.sweep_once()
    assert report.stuck == [] and report.acceptance_timeouts == []
    task.refresh_from_db()
    assert task.status == "input_required" and task.holder_id == agent.pk
    # an answer restarts the stuck timer from the answer, not from the old activity
    queue.answer_task(task.id, answer="blue", actor="operator:ops")
    assert sweep.sweep_once().stuck == []
    # complete_by still applies while waiting
    queue.ask_operator(task.id, agent, task.generation, question="and now?")
    Task.objects.filter(pk=task.pk).update(complete_by=now() - timedelta(seconds=1))
    assert sweep.sweep_once().deadlines == [task.id]
    task.refresh_from_db()
    assert task.status in ("queued", "dead_letter") and task.last_error == "deadline_exceeded"


def test_grace_expiry_reclaims_a_waiting_task(waiting, settings):
    settings.AGENTCOM_RECONNECT_GRACE_S = 5
    task, _agent = waiting()
    Task.objects.filter(pk=task.pk).update(holder_lost_at=now() - timedelta(seconds=10))
    assert sweep.sweep_once().grace_expired == [task.id]
    task.refresh_from_db()
    assert task.status == "queued" and task.holder_id is None
    assert task.answer_seen_id == task.answer_id  # the next holder is owed nothing


def test_a_waiting_holder_is_not_idle_after_identify(waiting):
    from agents import presence
    from agents.tokens import issue_agent_token

    _task, agent = waiting()
    token_row, _ = issue_agent_token(agent)
    bound = presence.identify(
        agent.pk,
        token_pk=token_row.pk,
        channel_name="test.again",
        name=agent.agent_id,
        status="connected",
        capabilities=[],
        features=["input_required"],
    )
    assert bound.agent.state == "working"


def test_the_task_record_shows_the_question_and_answer(waiting, operator_token):
    task, _ = waiting()
    client = Client(headers={"Authorization": f"Bearer {operator_token}"})
    record = client.get(f"/api/tasks/{task.id}").json()
    assert (record["status"], record["question"], record["answer"], record["answer_id"]) == (
        "input_required",
        "which colour?",
        None,
        0,
    )
    post(client, answer_path(task), {"answer": "blue"})
    record = client.get(f"/api/tasks/{task.id}").json()
    assert (record["answer"], record["answered_by"], record["answer_id"]) == (
        "blue",
        "operator:ops",
        1,
    )
    assert record["history"][0]["event"] == "input_answered"
    assert (record["history"][0]["details"], record["history"][0]["actor"]) == (
        "blue",
        "operator:ops",
    )
    assert record["history"][1]["event"] == "input_required"
    assert record["history"][1]["details"] == "which colour?"
    listed = client.get("/api/tasks", {"status": "input_required"}).json()
    assert listed["total"] == 0
    stats = client.get("/api/tasks/stats").json()
    assert stats["by_status"]["input_required"] == 0 and stats["by_status"]["working"] == 1
    assert TaskEvent.objects.filter(task=task, event="input_required").count() == 1


def test_the_dashboard_does_not_call_a_waiting_task_stuck(waiting, settings):
    from agentcom_site.dashboard import health

    settings.AGENTCOM_STUCK_AFTER_S = 1
    task, _ = waiting()
    Task.objects.filter(pk=task.pk).update(last_activity_at=now() - timedelta(hours=1))
    assert task.id not in health.stuck_task_ids(now())
