"""The overview's alert list and Acknowledge button in a real browser on a real hub."""

import pytest

from tests.e2e.agents import wait_until

pytestmark = pytest.mark.e2e


async def test_an_operator_acknowledges_an_alert_from_the_overview(backend, start_hub, browser):
    from playwright.async_api import expect

    from tests.dashboard.browser import create_staff, logged_in_page, screenshot

    create_staff(backend)
    hub = start_hub({"AGENTCOM_SWEEP_INTERVAL_S": "0.2"})
    ops = backend.operator_token()
    body = {"description": "render", "needed_capabilities": ["gpu"]}
    assert (await hub.ahttp("POST", "/api/tasks", body, ops))[0] == 201

    async def firing():
        return (await hub.ahttp("GET", "/api/alerts?state=firing", token=ops))[1]["total"] == 1

    await wait_until(firing, timeout=20)
    page = await logged_in_page(browser, hub)
    panel = page.locator("#alerts")
    await expect(panel).to_contain_text("1 queued task(s) need gpu")
    await screenshot(page, "dashboard-alert-firing.png")
    await panel.get_by_role("button", name="Acknowledge").click()
    await page.wait_for_url(f"{hub.url}/dashboard")
    await expect(panel).to_contain_text("by operator:ops")
    await expect(panel.get_by_role("button", name="Acknowledge")).to_have_count(0)

    _, page_of_alerts = await hub.ahttp("GET", "/api/alerts", token=ops)
    [alert] = page_of_alerts["alerts"]
    assert (alert["state"], alert["acknowledged_by"]) == ("acknowledged", "operator:ops")
    assert page.js_errors == []
