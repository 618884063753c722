"""Every page of the hub works offline: nothing loads from another origin.

A real hub and Chromium; any request to an origin other than the hub's is recorded and
refused, so a page that depends on a CDN fails here as it would without internet.
"""

from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def hub(backend, start_hub):
    from tests.dashboard.browser import create_staff

    create_staff(backend)
    return start_hub()


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.replace("ws", "http"), parts.netloc


async def test_no_page_loads_anything_from_another_origin(hub, browser):
    from playwright.async_api import expect

    from tests.dashboard.browser import PASSWORD, TIMEOUT_MS, USERNAME

    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    foreign: list[str] = []
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("websocket", lambda ws: foreign.append(ws.url) if not same(ws.url) else None)

    def same(url: str) -> bool:
        return url.startswith(("data:", "blob:", "about:")) or origin(url) == origin(hub.url)

    async def refuse_foreign(route) -> None:
        if same(route.request.url):
            await route.continue_()
        else:
            foreign.append(route.request.url)
            await route.abort()

    await page.route("**/*", refuse_foreign)

    # `/` leads to the dashboard, which sends a visitor to the hub's own login.
    await page.goto(f"{hub.url}/")
    assert urlsplit(page.url).path == "/admin/login/", page.url
    assert await page.title() == "Log in | AgentCom"
    await expect(page.locator("#site-name")).to_have_text("AgentCom")
    await expect(page.locator("#login-hint")).to_contain_text("manage.py createsuperuser")
    await page.fill("#id_username", USERNAME)
    await page.fill("#id_password", PASSWORD)
    await page.click("input[type=submit]")
    await page.wait_for_url(f"{hub.url}/dashboard")

    await page.goto(f"{hub.url}/dashboard/")
    assert page.url == f"{hub.url}/dashboard"
    await page.wait_for_load_state("networkidle")

    # The API docs render their operations from the hub's own copy of Swagger UI.
    for start in ("/api", "/api/", "/api/docs"):
        await page.goto(f"{hub.url}{start}")
        assert page.url == f"{hub.url}/api/docs"
    operations = page.locator(".opblock")
    await expect(operations.first).to_be_visible()
    assert await operations.count() > 10
    await expect(page.locator(".opblock-summary-path", has_text="/api/tasks").first).to_be_visible()

    await page.goto(f"{hub.url}/admin/")
    await expect(page.locator("#site-name")).to_have_text("AgentCom")
    assert "Django administration" not in await page.content()
    await page.goto(f"{hub.url}/admin/tasks/task/")
    await page.wait_for_load_state("networkidle")

    assert foreign == []
    assert errors == []
