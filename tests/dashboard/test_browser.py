"""The dashboard in a real browser, against a real hub process and real sidecars."""

import asyncio
import urllib.error
import urllib.request

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.e2e.harness import AgentClient
from tests.sidecar.harness import SidecarProcess, fast_config

pytestmark = pytest.mark.e2e

FAST = {"AGENTCOM_SWEEP_INTERVAL_S": "0.5"}


@pytest.fixture
def hub(backend, start_hub):
    from tests.dashboard.browser import create_staff

    create_staff(backend)
    return start_hub(FAST)


@pytest.fixture
async def sidecars(backend, tmp_path):
    started: list[SidecarProcess] = []

    def start(hub, agent_id: str, capabilities: list[str]) -> SidecarProcess:
        token = backend.create_agent(agent_id, capabilities)
        config = fast_config(hub.ws_url, agent_id=agent_id, token=token, capabilities=capabilities)
        (tmp_path / agent_id).mkdir()
        started.append(SidecarProcess(tmp_path / agent_id, config).start())
        return started[-1]

    yield start
    for sidecar in started:
        if sidecar.process and sidecar.process.poll() is None:
            await sidecar.stop()


async def test_agent_appears_and_a_submitted_task_completes_live(hub, browser, sidecars):
    from playwright.async_api import expect

    from tests.dashboard.browser import TIMEOUT_MS, logged_in_page, screenshot

    page = await logged_in_page(browser, hub)
    sidecars(hub, "browser-a", ["code", "python"])
    card = page.locator('[data-agent-id="browser-a"]')
    await expect(card).to_have_attribute("data-state", "idle", timeout=TIMEOUT_MS)
    await expect(card).to_contain_text("python")

    await page.click("text=Submit a task")
    await page.fill("#id_title", "Say hello from the browser")
    await page.fill("#id_description", "Say hello, then report success.")
    await page.select_option("#id_priority", "high")
    await page.fill("#id_capabilities", "code")
    await page.click(".task-form button[type=submit]")
    await page.wait_for_url("**/dashboard/tasks/task-*")
    task_id = page.url.rsplit("/", 1)[-1]
    await page.evaluate("window.sameDocument = true")  # lost if the page reloads

    status = page.locator("#task-status")
    await expect(status).to_have_text("completed", timeout=TIMEOUT_MS)
    assert await page.evaluate("window.sameDocument === true")
    await expect(page.locator('tr[data-event="completed"]')).to_have_count(1)
    await expect(page.locator(".timeline")).to_contain_text("browser-a")
    await screenshot(page, "dashboard-task.png")

    await page.goto(f"{hub.url}/dashboard")
    await expect(page.locator(f'#completions [data-task-id="{task_id}"]')).to_be_visible()
    await expect(page.locator("#completed-hour")).to_have_text("1")
    await expect(page.locator("#health")).to_contain_text("ok")
    await screenshot(page, "dashboard-overview.png")
    assert page.js_errors == []


async def test_dead_letter_is_retried_from_the_overview(backend, hub, browser):
    from playwright.async_api import expect

    from tests.dashboard.browser import logged_in_page, screenshot

    page = await logged_in_page(browser, hub)
    ops = backend.operator_token()
    token = backend.create_agent("breaker", ["breaker"])
    agent = await AgentClient(hub, "breaker", token, ["breaker"]).connect()
    status, answer = await hub.ahttp(
        "POST",
        "/api/tasks",
        {"description": "doomed", "needed_capabilities": ["breaker"], "max_retries": 1},
        ops,
    )
    assert status == 201, answer
    task_id = answer["task_id"]
    assign = await agent.recv_type("task_assign")
    await agent.send(
        {
            "type": "task_failed",
            "task_id": task_id,
            "generation": assign["generation"],
            "error": "nope",
        }
    )
    await agent.recv_type("task_ack")
    await agent.close()  # nobody else can take it: after the retry it stays queued

    row = page.locator(f'[data-dead-letter="{task_id}"]')
    await expect(row).to_contain_text("nope")  # appeared without a reload
    await page.evaluate("window.sameDocument = true")
    await screenshot(page, "dashboard-dead-letter.png")
    await page.click(f'[data-retry="{task_id}"]')
    await expect(page.locator("#flash")).to_contain_text(f"Task {task_id} is queued again.")
    await expect(row).to_have_count(0)
    assert await page.evaluate("window.sameDocument === true")
    record = (await hub.ahttp("GET", f"/api/tasks/{task_id}", token=ops))[1]
    assert record["status"] == "queued" and record["retry_count"] == 0
    assert record["history"][0]["details"] == "retry"
    assert page.js_errors == []


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


async def test_anonymous_and_foreign_origins_are_refused(hub, browser):
    from tests.dashboard.browser import logged_in_page, session_cookie

    opener = urllib.request.build_opener(NoRedirect)
    for path in ("/dashboard", "/dashboard/tasks", "/dashboard/agents/x"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            await asyncio.to_thread(opener.open, hub.url + path, timeout=10)
        assert refused.value.code == 302
        assert refused.value.headers["Location"].startswith("/admin/login/")
    assert (await hub.ahttp("GET", "/api/dashboard/state"))[0] == 401

    url = f"ws://127.0.0.1:{hub.port}/ws/dashboard"
    own_origin = f"http://127.0.0.1:{hub.port}"
    with pytest.raises(InvalidStatus) as anonymous:
        await websockets.connect(url, origin=own_origin)
    assert anonymous.value.response.status_code == 403

    page = await logged_in_page(browser, hub)
    cookie = {"Cookie": await session_cookie(page)}
    with pytest.raises(InvalidStatus) as foreign:
        await websockets.connect(url, origin="http://evil.example", additional_headers=cookie)
    assert foreign.value.response.status_code == 403
    async with websockets.connect(url, origin=own_origin, additional_headers=cookie) as ws:
        import json

        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "snapshot"


async def test_a_dropped_socket_reconnects_and_resyncs(backend, hub, browser):
    from playwright.async_api import expect

    from tests.dashboard.browser import logged_in_page

    page = await logged_in_page(browser, hub)
    await page.evaluate("window.sameDocument = true")
    hub.stop()
    await expect(page.locator("#live-status")).to_have_text("reconnecting")
    backend.create_agent("joined-while-down", ["code"])  # no event can announce it
    hub.start()
    await expect(page.locator("#live-status")).to_have_text("live")
    await expect(page.locator('[data-agent-id="joined-while-down"]')).to_be_visible()
    assert await page.evaluate("window.sameDocument && window.AgentComLive.resyncs >= 1")


async def test_a_change_before_the_page_joins_the_feed_still_shows(backend, hub, browser):
    """The page is rendered, then its socket joins the feed: an event in between (here
    the task's cancel, while the socket is held back) reaches the page all the same."""
    from playwright.async_api import expect

    from tests.dashboard.browser import TIMEOUT_MS, logged_in_page

    ops = backend.operator_token()
    status, created = await hub.ahttp("POST", "/api/tasks", {"description": "waits"}, ops)
    assert status == 201
    page = await logged_in_page(browser, hub)
    release = asyncio.Event()

    async def held_back(ws):
        await release.wait()
        ws.connect_to_server()

    await page.route_web_socket("**/ws/dashboard", held_back)
    await page.goto(f"{hub.url}/dashboard/tasks/{created['task_id']}")
    await expect(page.locator("#task-status")).to_have_text("queued")
    status, _ = await hub.ahttp("POST", f"/api/tasks/{created['task_id']}/cancel", {}, ops)
    assert status == 200
    release.set()
    await expect(page.locator("#task-status")).to_have_text("cancelled", timeout=TIMEOUT_MS)
