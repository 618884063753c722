"""Fixtures for the operator surfaces: staff users, their session cookie, a browser."""

import copy
import os
import secrets
import shutil
import subprocess

import pytest
from channels.layers import channel_layers, get_channel_layer
from django.contrib.auth import get_user_model
from django.test import Client

CHROMIUM = "/usr/bin/chromium"
CI = os.getenv("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
async def fresh_channel_layer(settings):
    """A channel layer per test: channels-redis binds its connections to one event loop.

    With Redis the prefix is the test's own, so dashboard groups never hear another
    process's events.
    """
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    if "prefix" in layers["default"].get("CONFIG", {}):
        layers["default"]["CONFIG"]["prefix"] = f"agentcom-test-{secrets.token_hex(4)}"
        settings.CHANNEL_LAYERS = layers
    channel_layers.backends.clear()
    yield
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        await layer.flush()
    channel_layers.backends.clear()


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("ops", password="pw-ops-123", is_staff=True)


@pytest.fixture
def staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def session_cookie(staff) -> str:
    """`sessionid=…` of a logged-in staff user, for socket handshakes."""
    client = Client()
    client.force_login(staff)
    return f"sessionid={client.cookies['sessionid'].value}"


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


# The end-to-end fixtures (own database, real hub processes) for the browser and
# onboarding runs.
from tests.e2e.conftest import backend, start_hub  # noqa: E402, F401
