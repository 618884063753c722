"""Repos and budgets in a real browser: register a repo with a spent-out budget on the
Repos page, see on the task page why its task waits, raise the budget and watch the
task complete, done by a real sidecar in a clone of the repo's bare origin."""

import pytest

from tests.dashboard.test_browser import hub, sidecars  # noqa: F401 (fixtures)
from tests.sidecar.harness import make_clone

pytestmark = pytest.mark.e2e


async def test_a_budget_holds_a_task_until_raised_on_the_repos_page(
    hub,  # noqa: F811
    browser,
    sidecars,  # noqa: F811
    tmp_path,
):
    from playwright.async_api import expect

    from tests.dashboard.browser import TIMEOUT_MS, logged_in_page, screenshot

    (tmp_path / "git").mkdir()
    make_clone(tmp_path / "git")  # tmp_path/git/origin.git, main with one commit
    page = await logged_in_page(browser, hub)
    sidecar = sidecars(hub, "browser-repos", ["code"])

    await page.click("text=Repos")
    await page.fill("#id_name", "shop")
    await page.fill("#id_url", f"file://{tmp_path / 'git' / 'origin.git'}")
    await page.fill("#id_daily_budget_usd", "0")
    await page.click("#repo-form button[type=submit]")
    row = page.locator('tr[data-repo="shop"]')
    await expect(row.locator("[data-state]")).to_have_text("budget reached: tasks wait")

    await page.click("text=Submit a task")
    await page.fill("#id_description", "Wait for the budget.")
    await page.fill("#id_repo", "shop")
    await page.click(".task-form button[type=submit]")
    await page.wait_for_url("**/dashboard/tasks/task-*")
    await expect(page.locator('#task-explanation [data-code="repo_budget"]')).to_contain_text(
        "repo shop spent $0.00 of its $0.00 daily budget today"
    )
    task_url = page.url
    await screenshot(page, "dashboard-repo-budget.png")

    await page.goto(f"{hub.url}/dashboard/repos")
    await row.locator('input[name="daily_budget_usd"]').fill("5")
    await row.locator('button:has-text("Save")').click()
    await expect(row.locator("[data-state]")).to_have_text("placing")
    await screenshot(page, "dashboard-repos.png")
    await page.goto(task_url)
    await expect(page.locator("#task-status")).to_have_text("completed", timeout=TIMEOUT_MS)
    assert (sidecar.dir / "workspaces").is_dir()  # the work happened in a clone of shop

    await page.goto(f"{hub.url}/dashboard")
    await expect(page.locator("#cost-chart svg")).to_have_count(1)
    assert page.js_errors == []
