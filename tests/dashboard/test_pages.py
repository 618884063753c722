"""Dashboard pages: staff only, thin over the selectors, every action through tasks.queue."""

import json
from html import escape

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tasks import queue
from tasks.models import Task

pytestmark = pytest.mark.django_db

PAGES = ["/dashboard", "/dashboard/tasks", "/dashboard/tasks/new", "/dashboard/agents"]


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_is_sent_to_the_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/admin/login/?next={path}")


def test_non_staff_is_sent_to_the_login():
    user = get_user_model().objects.create_user("visitor", password="x")
    client = Client()
    client.force_login(user)
    assert client.get("/dashboard").status_code == 302


def test_overview_embeds_the_snapshot(staff_client, make_agent):
    make_agent("alpha", capabilities=["code"], online=True)
    response = staff_client.get("/dashboard")
    assert response.status_code == 200
    html = response.content.decode()
    start = html.index('<script id="snapshot" type="application/json">') + 46
    snapshot = json.loads(html[start : html.index("</script>", start)])
    assert snapshot["agents"][0]["agent_id"] == "alpha"
    assert "/static/dashboard/overview.js" in html and "/static/dashboard/live.js" in html


def test_static_files_are_served_by_the_hub(client):
    response = client.get("/static/dashboard/live.js")
    assert response.status_code == 200
    assert b"/ws/dashboard" in b"".join(response.streaming_content)
    assert client.get("/static/admin/css/base.css").status_code == 200
    outside = Client(raise_request_exception=False).get("/static/../settings.py")
    assert outside.status_code in (400, 404)


def test_task_list_filters(staff_client, submit):
    urgent = submit("hot fix", title="Hot fix", priority=0)
    submit("later", title="Later")
    response = staff_client.get("/dashboard/tasks", {"priority": "0"})
    html = response.content.decode()
    assert urgent.id in html and "Later" not in html
    assert "Hot fix" in staff_client.get("/dashboard/tasks", {"q": "hot"}).content.decode()
    assert (
        urgent.id in staff_client.get("/dashboard/tasks", {"q": urgent.id[5:12]}).content.decode()
    )
    queued = staff_client.get("/dashboard/tasks", {"status": "completed"}).content.decode()
    assert urgent.id not in queued


def test_a_bad_filter_is_refused_as_the_api_refuses_it(staff_client, operator_token, submit):
    task = submit("anything")

    page = staff_client.get("/dashboard/tasks", {"status": "finished"})
    api = staff_client.get("/api/tasks", {"status": "finished"})

    assert page.status_code == api.status_code == 422
    assert f"Filter refused: {escape(api.json()['detail'])}" in page.content.decode()
    assert task.id not in page.content.decode()


def test_submit_form_queues_through_the_service(staff_client, make_agent):
    make_agent("pinned-one")
    response = staff_client.post(
        "/dashboard/tasks/new",
        {
            "title": "Write docs",
            "description": "Write the operator docs",
            "priority": "high",
            "capabilities": "docs, writing, docs",
            "deadline": "2099-01-01T12:00",
            "pin_to": "pinned-one",
            "max_retries": "2",
        },
    )
    task = Task.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/dashboard/tasks/{task.id}"
    assert task.title == "Write docs" and task.priority == 1
    assert task.needed_capabilities == ["docs", "writing"]
    assert task.pinned_to.agent_id == "pinned-one" and task.max_retries == 2
    assert task.complete_by.year == 2099
    assert task.submitted_by == "operator:ops"
    assert task.events.get().event == "queued"


def test_submit_form_names_the_bad_fields(staff_client):
    response = staff_client.post(
        "/dashboard/tasks/new",
        {
            "description": "",
            "priority": "normal",
            "max_retries": "500",
            "deadline": "2001-01-01T00:00",
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"description", "max_retries", "deadline"}
    assert not Task.objects.exists()


def test_task_page_shows_the_whole_timeline(staff_client, assigned):
    task, agent = assigned("worker", description="do it")
    queue.accept_task(task.id, agent)
    queue.complete_task(task.id, agent, 1, result={"pr_url": "https://example.com/pr/1"})
    html = staff_client.get(f"/dashboard/tasks/{task.id}").content.decode()
    for event in ("queued", "assigned", "accepted", "completed"):
        assert f'data-event="{event}"' in html
    assert 'data-status="completed"' in html and "https://example.com/pr/1" in html
    assert staff_client.get("/dashboard/tasks/task-0000000000000000").status_code == 404


def test_cancel_button_cancels_through_the_queue(staff_client, assigned):
    task, agent = assigned("holder")
    response = staff_client.post(f"/dashboard/tasks/{task.id}/cancel", follow=True)
    task.refresh_from_db()
    agent.refresh_from_db()
    assert task.status == "cancelled" and agent.state == "idle"
    last = task.events.order_by("-seq").first()
    assert last.actor == "operator:ops" and last.reason == "cancelled from the dashboard"
    assert f"Task {task.id} cancelled." in response.content.decode()
    again = staff_client.post(f"/dashboard/tasks/{task.id}/cancel", follow=True)
    assert "cannot be cancelled" in again.content.decode()


def test_retry_button_requeues_a_dead_letter(staff_client, assigned):
    task, agent = assigned("holder", max_retries=1)
    queue.fail_task(task.id, agent, 1, error="broken")
    staff_client.post(f"/dashboard/tasks/{task.id}/retry")
    task.refresh_from_db()
    assert task.status == "queued" and task.retry_count == 0


def test_actions_need_post(staff_client, submit):
    task = submit()
    assert staff_client.get(f"/dashboard/tasks/{task.id}/cancel").status_code == 405


def test_agent_pages_show_history(staff_client, assigned):
    task, agent = assigned("historian")
    queue.accept_task(task.id, agent)
    listing = staff_client.get("/dashboard/agents").content.decode()
    assert 'data-agent-id="historian"' in listing and task.id in listing
    page = staff_client.get("/dashboard/agents/historian").content.decode()
    assert task.id in page and "accepted" in page and "assigned" in page
    assert staff_client.get("/dashboard/agents/nobody").status_code == 404


@pytest.mark.parametrize(
    "pr_url",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        "java\tscript:alert(1)",
        " javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "https:no-host",
        "//evil.example/pr",
    ],
)
def test_a_pr_url_that_is_not_http_is_plain_text(staff_client, assigned, pr_url):
    task, agent = assigned("worker")
    queue.accept_task(task.id, agent)
    queue.complete_task(task.id, agent, 1, result={"pr_url": pr_url})
    html = staff_client.get(f"/dashboard/tasks/{task.id}").content.decode()
    pull_request = html.split("<dt>Pull request</dt>", 1)[1].split("</dd>", 1)[0]
    assert "<a" not in pull_request and escape(pr_url, quote=False) in pull_request
    assert "<script>" not in html


def test_an_http_pr_url_is_a_link_that_opens_apart(staff_client, assigned):
    task, agent = assigned("worker")
    queue.accept_task(task.id, agent)
    url = "https://github.com/o/r/pull/7?a=1&b=2"
    queue.complete_task(task.id, agent, 1, result={"pr_url": url})
    html = staff_client.get(f"/dashboard/tasks/{task.id}").content.decode()
    assert f'<a href="{escape(url)}" rel="noopener noreferrer nofollow" target="_blank">' in html


def test_task_list_says_which_attempt_a_task_is_on(staff_client, submit, assigned):
    waiting = submit("not yet")
    running, _ = assigned("runner", max_retries=3)
    html = staff_client.get("/dashboard/tasks").content.decode()
    row = html[html.index(f'data-task-id="{running.id}"') :]
    assert "attempt 1 of 4" in row[: row.index("</tr>")]
    row = html[html.index(f'data-task-id="{waiting.id}"') :]
    assert "not tried yet (4 attempts allowed)" in row[: row.index("</tr>")]


def test_task_list_sort_is_bounded_to_known_orders(staff_client, submit):
    first, second = submit("first"), submit("second")
    newest = staff_client.get("/dashboard/tasks").content.decode()
    assert newest.index(second.id) < newest.index(first.id)
    oldest = staff_client.get("/dashboard/tasks?sort=oldest").content.decode()
    assert oldest.index(first.id) < oldest.index(second.id)
    odd = staff_client.get("/dashboard/tasks?sort=id;drop").content.decode()
    assert odd.index(second.id) < odd.index(first.id)  # unknown: the default order


def test_agent_page_shows_the_machines_latest_report(staff_client, make_agent):
    from agents.resources import keep_report, note_restarting

    agent = make_agent("boxed", online=True)
    page = staff_client.get("/dashboard/agents/boxed").content.decode()
    assert "no report" in page
    figures = {"cpu_percent": 42.4, "ram_used_bytes": 3 * 2**30, "ram_total_bytes": 16 * 2**30}
    keep_report(agent.pk, {**figures, "vram_used_bytes": 2**30, "vram_total_bytes": 8 * 2**30})
    note_restarting(agent.pk, "upgrade")
    page = staff_client.get("/dashboard/agents/boxed").content.decode()
    assert "CPU 42 %" in page and "RAM 3.0\xa0GB of 16.0\xa0GB" in page
    assert "GPU memory 1.0\xa0GB of 8.0\xa0GB" in page and "restarting" in page
