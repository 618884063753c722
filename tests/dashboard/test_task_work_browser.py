"""The definition of done and the cost in a real browser: an operator submits a task
with verification steps from the form, a real agent client completes it with its cost,
and the task page and the overview show both. A real hub process."""

import json

import pytest

from tests.e2e.harness import AgentClient

pytestmark = pytest.mark.e2e

STEPS = [
    {"type": "tests_pass", "command": "pytest -q tests/test_login.py", "timeout_s": 300},
    {"type": "git_clean"},
    {"type": "diff_within", "paths": ["src/**", "tests/**"]},
]


@pytest.fixture
def hub(backend, start_hub):
    from tests.dashboard.browser import create_staff

    create_staff(backend)
    return start_hub({"AGENTCOM_SWEEP_INTERVAL_S": "0.5"})


async def test_the_task_page_and_the_overview_show_what_done_means_and_cost(hub, backend, browser):
    from playwright.async_api import expect

    from tests.dashboard.browser import logged_in_page, screenshot

    token = backend.create_agent("browser-worker", ["code"])
    agent = await AgentClient(hub, "browser-worker", token, ["code"]).connect()
    page = await logged_in_page(browser, hub)

    await page.goto(f"{hub.url}/dashboard/tasks/new")
    await page.fill("#id_description", "Fix the login redirect <for real>")
    await page.fill("#id_repo", "git@github.com:acme/shop.git")
    await page.fill("#id_branch", "release/2.1")
    await page.fill("#id_file_hints", "src/login.py\ntests/test_login.py")
    await page.fill("#id_success_criteria", "Logging in lands on the page asked for.")
    await page.fill("#id_verification_steps", json.dumps(STEPS))
    await page.click(".task-form button[type=submit]")
    await page.wait_for_url("**/dashboard/tasks/task-*")
    task_url = page.url

    frame = await agent.recv_type("task_assign")
    assert frame["verification_steps"] == STEPS and frame["branch"] == "release/2.1"
    await agent.ask({"type": "task_accepted", "task_id": frame["task_id"]}, "task_ack")
    cost = {"tokens_in": 48_000, "tokens_out": 6_500, "model": "claude-sonnet-4-5"}
    cost |= {"cost_usd": 0.2415, "execution_ms": 184_000, "iterations": 3, "session_id": "s-1"}
    complete = {"type": "task_complete", "task_id": frame["task_id"], "generation": 1}
    await agent.ask({**complete, "result": {"status": "success"}, **cost}, "task_ack")

    await page.goto(task_url)
    steps = page.locator('#task-definition [data-field="verification_steps"] li')
    await expect(steps).to_have_count(3)
    await expect(steps.nth(0)).to_contain_text("pytest -q tests/test_login.py")
    await expect(page.locator('#task-definition [data-field="complexity"]')).to_contain_text(
        "estimated"
    )
    await expect(page.locator('#task-cost [data-field="cost_usd"]')).to_have_text("$0.2415")
    await screenshot(page, "task-definition-and-cost.png")

    await page.goto(f"{hub.url}/dashboard")
    row = page.locator('#costs [data-agent="browser-worker"]')
    await expect(row).to_contain_text("0.2415")
    await screenshot(page, "overview-costs.png")
    assert page.js_errors == []  # type: ignore[attr-defined]
    await agent.close()
