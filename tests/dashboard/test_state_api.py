"""GET /api/dashboard/state: the snapshot's shape, its figures and who may read it."""

import pytest
from django.test import Client

from agentcom_site.dashboard.state import dashboard_state
from tasks import queue
from tasks.models import TaskEvent

pytestmark = pytest.mark.django_db

SNAPSHOT_KEYS = {
    "uptime_ms",
    "timestamp",
    "health",
    "agents",
    "queue",
    "dead_letter_tasks",
    "recent_completions",
    "throughput",
}


def test_anonymous_is_401(client):
    response = client.get("/api/dashboard/state")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_agent_token_is_403(client, make_agent, agent_token):
    token = agent_token(make_agent("a1"))
    response = client.get("/api/dashboard/state", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_operator_token_gets_the_snapshot(client, operator_token):
    response = client.get(
        "/api/dashboard/state", headers={"Authorization": f"Bearer {operator_token}"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body.keys() >= SNAPSHOT_KEYS
    assert body["health"]["status"] == "ok" and body["health"]["conditions"] == []
    assert set(body["queue"]) == {"by_status", "by_priority", "dead_letter"}
    assert set(body["throughput"]) == {
        "completed_last_hour",
        "avg_completion_ms",
        "total_tokens_hour",
        "failed_last_hour",
    }
    assert isinstance(body["uptime_ms"], int) and isinstance(body["timestamp"], int)


def test_staff_session_gets_the_snapshot(staff_client):
    response = staff_client.get("/api/dashboard/state")
    assert response.status_code == 200
    assert response.json().keys() >= SNAPSHOT_KEYS


def test_non_staff_session_is_401():
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("visitor", password="x")
    client = Client()
    client.force_login(user)
    assert client.get("/api/dashboard/state").status_code == 401


def test_figures_follow_the_queue(assigned, submit, make_agent):
    task, agent = assigned("worker-1", description="fix it", needed_capabilities=[])
    queue.accept_task(task.id, agent)
    queue.complete_task(
        task.id,
        agent,
        task.generation,
        result={"status": "success", "pr_url": "https://example.com/pr/7"},
        tokens_used=120,
    )
    doomed = submit("break it", max_retries=1)
    holder = make_agent("worker-2", online=True)
    queue.assign_task(doomed.id, holder.pk)
    queue.fail_task(doomed.id, holder, 1, error="tests failed")
    submit("still waiting", priority=1)
    make_agent("idle-one", capabilities=["code"], online=True)

    state = dashboard_state()

    assert state["queue"]["by_status"]["completed"] == 1
    assert state["queue"]["by_status"]["dead_letter"] == 1
    assert state["queue"]["by_priority"]["1"] == 1
    assert state["queue"]["dead_letter"] == 1
    (dead,) = state["dead_letter_tasks"]
    assert dead["id"] == doomed.id and dead["last_error"] == "tests failed"
    assert dead["retry_count"] == 1 and isinstance(dead["created_at"], int)
    (done,) = state["recent_completions"]
    assert done["task_id"] == task.id and done["agent_id"] == "worker-1"
    assert done["tokens_used"] == 120 and done["pr_url"] == "https://example.com/pr/7"
    assert done["duration_ms"] >= 0 and done["description"] == "fix it"
    assert state["throughput"]["completed_last_hour"] == 1
    assert state["throughput"]["total_tokens_hour"] == 120
    assert state["throughput"]["avg_completion_ms"] is not None
    cards = {a["agent_id"]: a for a in state["agents"]}
    assert cards["worker-1"]["tasks_done_today"] == 1
    assert cards["idle-one"]["fsm_state"] == "idle"
    assert cards["idle-one"]["capabilities"] == [{"name": "code"}]
    assert {"current_task_id", "connected_at", "last_state_change", "name"} <= set(
        cards["idle-one"]
    )


def test_card_names_the_held_task(assigned):
    task, _ = assigned("busy-bee", title="Refactor the parser")
    card = next(a for a in dashboard_state()["agents"] if a["agent_id"] == "busy-bee")
    assert card["current_task_id"] == task.id
    assert card["current_task_title"] == "Refactor the parser"
    assert card["fsm_state"] == "assigned"


def test_chart_counts_completions_and_queue_depth(assigned, submit):
    task, agent = assigned("charter")
    queue.complete_task(task.id, agent, task.generation, result={})
    submit("one")
    submit("two")
    chart = dashboard_state()["chart"]
    last = chart["points"][-1]
    assert last["queued"] == 2 and last["completed"] == 1
    assert len(chart["points"]) == 36
    assert sum(p["completed"] for p in chart["points"]) == 1


def test_chart_walks_queue_depth_back_in_time(submit):
    from datetime import timedelta

    from agentcom_site.core.clock import now

    old = [submit(f"old {i}") for i in range(3)]
    TaskEvent.objects.filter(task__in=old).update(created_at=now() - timedelta(minutes=30))
    submit("new")
    points = dashboard_state()["chart"]["points"]
    assert points[-1]["queued"] == 4
    # Half an hour ago only the three old tasks had arrived; before that, none.
    assert points[-7]["queued"] == 3
    assert points[0]["queued"] == 0


def test_snapshot_query_count_does_not_grow_with_rows(
    django_assert_max_num_queries, make_agent, submit
):
    for i in range(30):
        make_agent(f"bulk-{i}", online=i % 2 == 0)
        submit(f"task {i}")
    with django_assert_max_num_queries(16):
        dashboard_state()
