"""A question answered from the task page in a real browser: an agent client asks, the
overview lists it first, the page shows it live, the operator types an answer that
survives a live refresh of the page and sends it, and the agent receives it. A real hub."""

import pytest

from tests.e2e.harness import AgentClient

pytestmark = pytest.mark.e2e

QUESTION = "Base on <main> or release-2?"


@pytest.fixture
def hub(backend, start_hub):
    from tests.dashboard.browser import create_staff

    create_staff(backend)
    return start_hub({"AGENTCOM_SWEEP_INTERVAL_S": "3600"})


async def test_an_operator_answers_a_question_from_the_task_page(hub, backend, browser):
    from playwright.async_api import expect

    from tests.dashboard.browser import logged_in_page, screenshot

    ops = backend.operator_token()
    token = backend.create_agent("asker")
    agent = await AgentClient(hub, "asker", token).connect(
        presence=False, features=["input_required"]
    )
    status, submitted = await hub.ahttp(
        "POST", "/api/tasks", {"description": "Fix it", "title": "Fix the build"}, ops
    )
    assert status == 201
    task_id = submitted["task_id"]
    assign = await agent.recv_type("task_assign")
    await agent.ask({"type": "task_accepted", "task_id": task_id}, "task_ack")
    page = await logged_in_page(browser, hub)
    await page.goto(f"{hub.url}/dashboard/tasks/{task_id}")
    await expect(page.locator("#task-status")).to_have_text("working")

    # The question arrives while the page is open: the live region shows it.
    ask = {"type": "task_input_required", "task_id": task_id, "generation": assign["generation"]}
    await agent.ask({**ask, "question": QUESTION}, "task_ack")
    question = page.locator('[data-question] [data-field="question"]')
    await expect(question).to_have_text(QUESTION)  # as text: escaped, not markup
    await expect(page.locator("#task-status")).to_have_text("input_required")

    # What the operator is typing survives a live refresh (a keepalive from the agent).
    await page.fill("#answer-text", "release-2, and <b>squash</b>")
    progress = {"type": "task_progress", "task_id": task_id, "generation": assign["generation"]}
    await agent.send({**progress, "progress": {"note": "still waiting"}})
    await expect(page.locator("#task-live")).to_contain_text("still waiting")
    await expect(page.locator("#answer-text")).to_have_value("release-2, and <b>squash</b>")
    await screenshot(page, "task-question.png")

    await page.click('[data-action="answer"]')
    await page.wait_for_url(f"**/dashboard/tasks/{task_id}")
    await expect(page.locator("#task-status")).to_have_text("working")
    await expect(page.locator('[data-field="answer"]')).to_have_text("release-2, and <b>squash</b>")
    pushed = await agent.recv_type("task_input")
    assert (pushed["answer"], pushed["answer_id"], pushed["question"]) == (
        "release-2, and <b>squash</b>",
        1,
        QUESTION,
    )

    # A second question: the overview lists it on top, with a way to the answer box.
    await agent.ask({**ask, "question": "And the changelog?"}, "task_ack")
    await page.goto(f"{hub.url}/dashboard")
    waiting = page.locator(f'#questions [data-question-task="{task_id}"]')
    await expect(waiting).to_contain_text("And the changelog?")
    await expect(page.locator("#questions-panel")).to_be_visible()
    await screenshot(page, "overview-question.png")
    await waiting.locator("a.button").click()
    await page.wait_for_url(f"**/dashboard/tasks/{task_id}#answer")
    await expect(page.locator("#answer-text")).to_be_visible()
    assert page.js_errors == []  # type: ignore[attr-defined]
    await agent.close()
