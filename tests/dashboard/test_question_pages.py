"""A waiting question on the dashboard and in the admin: shown escaped, answered through
the same operation as the API, listed first on the overview; delegated children listed."""

import json

import pytest

from tasks import queue
from tasks.models import Task

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("q")</script> & which?'


@pytest.fixture
def waiting(assigned):
    task, agent = assigned("asker", title="Pick a colour")
    agent.features = ["input_required"]
    agent.save(update_fields=["features"])
    queue.accept_task(task.id, agent)
    queue.ask_operator(task.id, agent, task.generation, question=HOSTILE)
    task.refresh_from_db()
    return task


def snapshot_of(html: str) -> dict:
    start = html.index('<script id="snapshot" type="application/json">') + 46
    return json.loads(html[start : html.index("</script>", start)])


def test_the_task_page_highlights_the_question_escaped_with_an_answer_box(staff_client, waiting):
    html = staff_client.get(f"/dashboard/tasks/{waiting.id}").content.decode()
    assert 'class="panel question"' in html and 'name="answer"' in html
    assert "&lt;script&gt;alert(&quot;q&quot;)&lt;/script&gt; &amp; which?" in html
    assert HOSTILE not in html
    assert "csrfmiddlewaretoken" in html


def test_answering_from_the_page_moves_the_task_and_records_who(staff_client, waiting):
    response = staff_client.post(
        f"/dashboard/tasks/{waiting.id}/answer", {"answer": "blue <b>please</b>"}
    )
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert (waiting.status, waiting.answer, waiting.answered_by) == (
        "working",
        "blue <b>please</b>",
        "operator:ops",
    )
    html = staff_client.get(f"/dashboard/tasks/{waiting.id}").content.decode()
    assert "blue &lt;b&gt;please&lt;/b&gt;" in html and 'name="answer"' not in html


def test_an_empty_or_late_answer_is_refused_on_the_page(staff_client, waiting):
    staff_client.post(f"/dashboard/tasks/{waiting.id}/answer", {"answer": ""})
    waiting.refresh_from_db()
    assert waiting.status == "input_required"
    staff_client.post(f"/dashboard/tasks/{waiting.id}/answer", {"answer": "one"})
    response = staff_client.post(
        f"/dashboard/tasks/{waiting.id}/answer", {"answer": "two"}, follow=True
    )
    assert "only a task waiting for input can be answered" in response.content.decode()
    waiting.refresh_from_db()
    assert (waiting.answer, waiting.answer_id) == ("one", 1)


def test_the_answer_route_is_for_staff_only(client, waiting):
    response = client.post(f"/dashboard/tasks/{waiting.id}/answer", {"answer": "x"})
    assert response.status_code == 302 and "/login" in response["Location"]
    waiting.refresh_from_db()
    assert waiting.status == "input_required"


def test_the_overview_lists_waiting_questions_first(staff_client, waiting):
    html = staff_client.get("/dashboard").content.decode()
    assert html.index('id="questions-panel"') < html.index('id="queue"')
    questions = snapshot_of(html)["waiting_questions"]
    assert [(q["task_id"], q["question"], q["agent_id"]) for q in questions] == [
        (waiting.id, HOSTILE, "asker")
    ]


def test_the_task_list_filters_by_the_new_status(staff_client, waiting, submit):
    other = submit("not waiting")
    html = staff_client.get("/dashboard/tasks", {"status": "input_required"}).content.decode()
    assert waiting.id in html and other.id not in html
    assert "input required" in html  # the status tab


def test_the_admin_answers_too(admin_client, waiting):
    change = admin_client.get(f"/admin/tasks/task/{waiting.id}/change/").content.decode()
    assert "Answer the question" in change and HOSTILE not in change
    page = admin_client.get(f"/admin/tasks/task/{waiting.id}/answer/")
    assert page.status_code == 200 and "&lt;script&gt;" in page.content.decode()
    response = admin_client.post(f"/admin/tasks/task/{waiting.id}/answer/", {"answer": "green"})
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert (waiting.status, waiting.answer, waiting.answered_by) == (
        "working",
        "green",
        "operator:admin",
    )


def test_the_parent_page_lists_its_children_with_their_states(staff_client, assigned, submit):
    parent, _agent = assigned("lead")
    child, _ = queue.submit_task(description="child", submitted_by="lead", parent_id=parent.id)
    html = staff_client.get(f"/dashboard/tasks/{parent.id}").content.decode()
    assert f'data-child="{child.id}"' in html and "Delegated tasks" in html
    child_html = staff_client.get(f"/dashboard/tasks/{child.id}").content.decode()
    assert f'href="/dashboard/tasks/{parent.id}"' in child_html
    assert Task.objects.get(pk=child.id).depth == 1
