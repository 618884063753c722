"""The task page's risk tier and verification reports: each attempt step by step, every
output in a <pre>, escaped; the task list shows the tier beside the status."""

import pytest

from tasks import queue
from tasks.schemas import DiffShape, VerificationAttempt
from tests.conftest import assign

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert(1)</script> & done"


def attempt(number: int, passed: bool, output: str) -> VerificationAttempt:
    step = {
        "index": 0,
        "kind": "tests_pass",
        "label": "pytest -q",
        "passed": passed,
        "exit_code": 0 if passed else 1,
        "duration_ms": 1500,
        "output": output,
        "truncated": not passed,
    }
    return VerificationAttempt.model_validate(
        {"attempt": number, "passed": passed, "steps": [step]}
    )


def test_the_task_page_shows_each_attempt_and_the_risk(staff_client, make_agent):
    agent = make_agent("worker", online=True)
    task, _ = queue.submit_task(description="Fix the cart", submitted_by="t")
    task = assign(task.id, agent)
    shape = DiffShape(files_changed=1, lines_added=3, lines_removed=1, paths=["docs/cart.md"])
    queue.classify_task(task.id, agent, task.generation, diff=shape)
    queue.complete_task(
        task.id,
        agent,
        task.generation,
        result={},
        checks=[attempt(1, False, HOSTILE), attempt(2, True, "1 passed")],
    )

    page = staff_client.get(f"/dashboard/tasks/{task.id}").content.decode()
    listing = staff_client.get("/dashboard/tasks").content.decode()

    assert page.count('class="attempt"') == 2
    assert 'data-attempt="1" data-passed="false"' in page
    assert 'data-attempt="2" data-passed="true"' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; done" in page and HOSTILE not in page
    assert "… (earlier output cut)" in page and "1500 ms" in page
    assert 'data-risk-tier="1"' in page and "only tests and documents" in page
    assert 'data-risk-tier="1"' in listing


def test_a_task_without_reports_shows_neither_section(staff_client, submit):
    task = submit()
    page = staff_client.get(f"/dashboard/tasks/{task.id}").content.decode()
    assert 'id="task-verification"' not in page and 'id="task-risk"' not in page
