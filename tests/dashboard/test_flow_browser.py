"""Flow control in a real browser: pause from the overview, see why a submitted task
waits on its page, resume, and watch it complete live. A real hub, a real sidecar."""

import pytest

from tests.dashboard.test_browser import hub, sidecars  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e


async def test_pause_explain_and_resume_from_the_dashboard(hub, browser, sidecars):  # noqa: F811
    from playwright.async_api import expect

    from tests.dashboard.browser import TIMEOUT_MS, logged_in_page, screenshot

    page = await logged_in_page(browser, hub)
    sidecars(hub, "browser-flow", ["code"])
    card = page.locator('[data-agent-id="browser-flow"]')
    await expect(card).to_have_attribute("data-state", "idle", timeout=TIMEOUT_MS)

    await page.click('[data-action="pause"]')
    await expect(page.locator("#dispatch")).to_have_attribute("data-paused", "all")
    await expect(page.locator("#dispatch")).to_contain_text("Dispatch is paused.")
    await screenshot(page, "dashboard-paused.png")

    await page.click("text=Submit a task")
    await page.fill("#id_description", "Wait for the resume.")
    await page.fill("#id_capabilities", "code")
    await page.click(".task-form button[type=submit]")
    await page.wait_for_url("**/dashboard/tasks/task-*")
    await expect(page.locator('#task-explanation [data-code="paused"]')).to_contain_text(
        "dispatch is paused for all tasks"
    )
    await expect(page.locator("#task-status")).to_have_text("queued")
    task_url = page.url

    await page.goto(f"{hub.url}/dashboard")
    await page.click('[data-action="resume"]')
    await expect(page.locator("#dispatch")).to_contain_text("Dispatch is running.")
    await page.goto(task_url)
    await expect(page.locator("#task-status")).to_have_text("completed", timeout=TIMEOUT_MS)
    await expect(page.locator("#task-explanation")).to_have_count(0)
    assert page.js_errors == []
