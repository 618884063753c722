"""The definition of done and the cost on the dashboard: the task form, the task page
(every value escaped, the steps as a list) and the overview's cost panel."""

import json

import pytest

from tasks import queue
from tasks.models import Task

pytestmark = pytest.mark.django_db

STEPS = [
    {"type": "tests_pass", "command": "pytest -q <tests>"},
    {"type": "diff_within", "paths": ["src/**"]},
]


def test_the_form_takes_the_definition_of_done(staff_client):
    response = staff_client.post(
        "/dashboard/tasks/new",
        {
            "description": "Fix the login redirect",
            "priority": "normal",
            "max_retries": "3",
            "repo": "git@github.com:acme/shop.git",
            "branch": "release/2.1",
            "file_hints": "src/login.py\n\n  tests/test_login.py  \n",
            "success_criteria": "Lands on the page asked for",
            "verification_steps": json.dumps(STEPS),
            "max_verification_retries": "4",
            "complexity": "",
        },
    )
    task = Task.objects.get()
    assert response.status_code == 302
    assert (task.repo, task.branch) == ("git@github.com:acme/shop.git", "release/2.1")
    assert task.file_hints == ["src/login.py", "tests/test_login.py"]
    assert task.verification_steps == STEPS and task.max_verification_retries == 4
    assert task.complexity_estimated and task.complexity_reason.startswith("estimated")


def test_the_form_names_each_bad_definition_field(staff_client):
    response = staff_client.post(
        "/dashboard/tasks/new",
        {
            "description": "x",
            "priority": "normal",
            "max_retries": "3",
            "branch": "a..b",
            "file_hints": "../etc/passwd",
            "verification_steps": '[{"type": "rm_rf"}]',
        },
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"branch", "file_hints", "verification_steps"}
    not_json = staff_client.post(
        "/dashboard/tasks/new",
        {"description": "x", "priority": "normal", "max_retries": "3", "verification_steps": "["},
    )
    assert set(not_json.context["form"].errors) == {"verification_steps"}
    assert not Task.objects.exists()


def test_the_task_page_shows_the_definition_and_cost_escaped(staff_client, assigned):
    definition = {
        "repo": "https://example.com/a<b>.git",
        "success_criteria": "<script>alert(1)</script>",
        "verification_steps": STEPS,
        "file_hints": ["src/<x>.py"],
        "complexity": "complex",
        "complexity_reason": "given by the submitter",
    }
    task, agent = assigned("worker", description="do it", definition=definition)
    result = {"tokens_in": 1200, "tokens_out": 300, "model": "claude-x", "cost_usd": 0.0123}
    queue.complete_task(task.id, agent, task.generation, result=result)
    html = staff_client.get(f"/dashboard/tasks/{task.id}").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "https://example.com/a&lt;b&gt;.git" in html and "src/&lt;x&gt;.py" in html
    assert '<li data-step="tests_pass">' in html and '<li data-step="diff_within">' in html
    assert "pytest -q &lt;tests&gt;" in html
    assert "$0.0123" in html and "claude-x" in html and "1200 / 300" in html


def test_a_task_without_a_definition_shows_neither_panel(staff_client, submit):
    task = submit("plain")
    html = staff_client.get(f"/dashboard/tasks/{task.id}").content.decode()
    assert 'id="task-definition"' not in html and 'id="task-cost"' not in html


def test_the_overview_shows_what_the_last_days_cost(staff_client, assigned):
    task, agent = assigned("spender", description="do it")
    queue.complete_task(task.id, agent, task.generation, result={"cost_usd": 1.5})
    html = staff_client.get("/dashboard").content.decode()
    assert 'id="costs"' in html
    assert '<tr data-agent="spender"><td>spender</td><td>1</td>' in html
    assert "1.5000" in html
