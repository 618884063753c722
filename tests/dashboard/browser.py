"""Helpers for the browser runs: a staff user on a real hub, a logged-in Chromium page."""

import json
from pathlib import Path

from playwright.async_api import Browser, Page, expect

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USERNAME = "ops"
PASSWORD = "correct-horse-battery-staple"
TIMEOUT_MS = 15_000


def create_staff(backend) -> None:
    backend.manage(
        "createsuperuser",
        "--noinput",
        "--username",
        USERNAME,
        "--email",
        "ops@example.com",
        env={"DJANGO_SUPERUSER_PASSWORD": PASSWORD},
    )


async def logged_in_page(browser: Browser, hub) -> Page:
    """A page on the overview after logging in through the admin login form."""
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.js_errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{hub.url}/dashboard")
    assert "/admin/login/" in page.url  # anonymous: sent to the login first
    await page.fill("#id_username", USERNAME)
    await page.fill("#id_password", PASSWORD)
    await page.click("input[type=submit]")
    await page.wait_for_url(f"{hub.url}/dashboard")
    await expect(page.locator("#live-status")).to_have_text("live")
    return page


async def session_cookie(page: Page) -> str:
    cookies = await page.context.cookies()
    return next(f"sessionid={c['value']}" for c in cookies if c["name"] == "sessionid")


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    await page.screenshot(path=str(path), full_page=True)
    return path


def dumps(value) -> str:
    return json.dumps(value, indent=2)
