"""Browser fixtures for the page tests (dashboard, admin, operations): Debian's Chromium,
installed on first use where allowed, and a headless browser on it per test."""

import os
import shutil
import subprocess

import pytest

CHROMIUM = "/usr/bin/chromium"
CI = os.getenv("CI", "").lower() == "true"


def _install_chromium() -> None:
    """Debian's chromium, installed on first use where the tests may do so (root, apt)."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "chromium"]
    if subprocess.run(install, env=env, capture_output=True, timeout=900).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
        subprocess.run(install, env=env, capture_output=True, timeout=900)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The browser for the Playwright tests; missing it fails in CI and skips elsewhere."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        if CI:
            pytest.fail("playwright is not installed (requirements-dev.txt)")
        pytest.skip("playwright is not installed: pip install -r requirements-dev.txt")
    if not os.path.exists(CHROMIUM):
        _install_chromium()
    if not os.path.exists(CHROMIUM):
        if CI:
            pytest.fail(f"{CHROMIUM} is missing and `apt-get install chromium` did not provide it")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    return CHROMIUM


@pytest.fixture
async def browser(chromium):
    from playwright.async_api import async_playwright

    from tests.dashboard.browser import CHROMIUM_ARGS

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()
