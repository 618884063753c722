"""Agent, token and admin routes: shapes, auth and refusals."""

import json

import pytest
from django.test import Client

from agents.models import AgentToken
from tasks import queue
from tasks.models import TaskEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(operator_token):
    return Client(headers={"Authorization": f"Bearer {operator_token}"})


def test_agents_lists_connected_agents_only(ops, make_agent):
    make_agent("online", capabilities=["code"], online=True)
    make_agent("away")
    body = ops.get("/api/agents").json()
    assert [a["agent_id"] for a in body["agents"]] == ["online"]
    agent = body["agents"][0]
    assert agent["fsm_state"] == "idle" and agent["capabilities"] == ["code"]
    assert isinstance(agent["connected_at"], (int, type(None)))


def test_states_include_offline_holders(ops, assigned):
    task, agent = assigned("holder")
    agent.go_offline()
    agent.save()
    states = ops.get("/api/agents/states").json()["agents"]
    assert [(s["agent_id"], s["fsm_state"], s["current_task_id"]) for s in states] == [
        ("holder", "offline", task.id)
    ]
    assert states[0]["capabilities"] == [] and states[0]["flags"] == []


def test_one_agent_state_and_404(ops, make_agent):
    make_agent("solo", capabilities=["a"], online=True)
    state = ops.get("/api/agents/solo/state").json()
    assert state["fsm_state"] == "idle" and state["capabilities"] == [{"name": "a"}]
    assert isinstance(state["last_state_change"], int)
    missing = ops.get("/api/agents/ghost/state")
    assert missing.status_code == 404 and missing.json()["error"] == "agent_not_found"


def test_operator_issues_lists_and_revokes_tokens(ops, make_agent, agent_token):
    response = ops.post(
        "/admin/tokens", json.dumps({"agent_id": "newbie"}), content_type="application/json"
    )
    assert response.status_code == 201
    issued = response.json()
    assert len(issued["token"]) == 64 and issued["token_prefix"] == issued["token"][:8] + "..."
    listed = ops.get("/admin/tokens").json()["tokens"]
    assert [t["agent_id"] for t in listed] == ["newbie"]
    assert "token" not in listed[0]
    assert AgentToken.objects.get().token_hash != issued["token"]  # only the hash is stored
    revoked = ops.delete("/admin/tokens/newbie").json()
    assert revoked == {"status": "revoked", "agent_id": "newbie", "revoked": 1}


def test_agents_may_revoke_only_their_own_tokens(make_agent, agent_token):
    token = agent_token(make_agent("self"))
    make_agent("other")
    client = Client(headers={"Authorization": f"Bearer {token}"})
    assert client.delete("/admin/tokens/other").status_code == 403
    assert client.post("/admin/tokens", "{}", content_type="application/json").status_code == 403
    assert client.delete("/admin/tokens/self").json()["revoked"] == 1
    assert client.get("/api/agents").status_code == 401  # its token is gone now


def test_admin_shows_transitions_and_applies_them_through_services(django_user_model, submit):
    staff = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    client = Client()
    client.force_login(staff)
    task = submit()
    page = client.get(f"/admin/tasks/task/{task.id}/change/")
    assert page.status_code == 200
    assert b"_fsm_transition_to" in page.content and b'value="cancel"' in page.content
    inline = {"events-TOTAL_FORMS": "1", "events-INITIAL_FORMS": "1"}  # the read-only timeline
    client.post(f"/admin/tasks/task/{task.id}/change/", {"_fsm_transition_to": "cancel", **inline})
    task.refresh_from_db()
    assert task.status == "cancelled"
    last = TaskEvent.objects.filter(task=task).last()
    assert last.event == "cancelled" and last.actor == "operator:root"


def test_admin_bulk_retry_of_dead_letters(django_user_model, make_agent, submit):
    staff = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    client = Client()
    client.force_login(staff)
    agent = make_agent(online=True)
    task = submit(max_retries=1)
    queue.assign_task(task.id, agent.pk)
    task.refresh_from_db()
    queue.fail_task(task.id, agent, task.generation, error="x")
    response = client.post(
        "/admin/tasks/task/",
        {"action": "bulk_retry_dead_letters", "_selected_action": [task.id]},
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == "queued"
