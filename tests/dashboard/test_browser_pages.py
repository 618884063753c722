"""Each dashboard and admin page as an operator sees it, in a real browser.

One hub and one browser for the module: the tasks are made once (through the API and a
real agent socket), then every test reads the pages they produced.
"""

import re

import pytest
import pytest_asyncio

from tests.e2e.harness import AgentClient, Backend, HubProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

HOSTILE = "<script>window.pwned = 1</script>"
OUTPUT = "first line\nsecond line"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    from tests.dashboard.browser import create_staff

    backend = Backend(tmp_path_factory.mktemp("pages"))
    create_staff(backend)
    backend.ops = backend.operator_token()
    hub = HubProcess(backend, env={"AGENTCOM_SWEEP_INTERVAL_S": "0.5"}).start()
    yield hub
    hub.stop()
    backend.drop()


async def submit(hub, **body) -> str:
    status, answer = await hub.ahttp("POST", "/api/tasks", body, hub.backend.ops)
    assert status == 201, answer
    return answer["task_id"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tasks(hub) -> dict[str, str]:
    """A finished task (hostile title, multi-line output, a wake attempt), a cancelled
    one, a dead letter and a queued one, submitted in that order."""
    token = hub.backend.create_agent("worker-1", ["code", "rust"])
    agent = await AgentClient(hub, "worker-1", token, ["code", "rust"]).connect()
    made = {}
    made["done"] = await submit(
        hub, title=f"Hostile {HOSTILE}", description="d", needed_capabilities=["rust"]
    )
    assign = await agent.recv_type("task_assign")
    frame = {"task_id": made["done"], "generation": assign["generation"]}
    await agent.ask({"type": "task_accepted", **frame}, "task_ack")
    await agent.send({"type": "wake_result", **frame, "status": "success", "attempt": 1})
    result = {"output": f"{OUTPUT}\n{HOSTILE}", "tokens_used": 5}
    await agent.ask({"type": "task_complete", **frame, "result": result}, "task_ack")

    made["cancelled"] = await submit(
        hub, title="Cancel me", description="d", needed_capabilities=["gpu"]
    )
    status, answer = await hub.ahttp(
        "POST", f"/api/tasks/{made['cancelled']}/cancel", {}, hub.backend.ops
    )
    assert status == 200, answer

    made["dead"] = await submit(
        hub, title="Doomed", description="d", needed_capabilities=["rust"], max_retries=0
    )
    assign = await agent.recv_type("task_assign")
    await agent.ask(
        {
            "type": "task_failed",
            "task_id": made["dead"],
            "generation": assign["generation"],
            "error": "nope",
        },
        "task_ack",
    )
    made["queued"] = await submit(
        hub, title="Waiting", description="d", needed_capabilities=["gpu"]
    )
    await agent.close()
    return made


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def page(hub, chromium):
    from playwright.async_api import async_playwright

    from tests.dashboard.browser import CHROMIUM_ARGS, logged_in_page

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = await logged_in_page(browser, hub)
        foreign: list[str] = []
        origin = hub.url
        page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith((origin, "ws://127.0.0.1", "data:"))
                else foreign.append(r.url)
            ),
        )
        page.foreign_requests = foreign  # type: ignore[attr-defined]
        yield page
        await browser.close()


SECONDS = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


async def test_overview_chart_has_axes_units_and_a_legend(hub, tasks, page):
    from playwright.async_api import expect

    await page.goto(f"{hub.url}/dashboard")
    chart = page.locator("#chart")
    await expect(chart.locator("svg .y-tick").first).to_be_visible()
    await expect(chart.locator("svg .x-tick").first).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
    await expect(chart.locator("svg text.unit").first).to_have_text("tasks / 5 min")
    await expect(chart.locator(".legend-line")).to_have_text(
        re.compile("completed.*failed attempts")
    )
    assert await chart.locator("rect.bar.ok").count() >= 1  # the completion
    assert await chart.locator("rect.bar.bad").count() >= 1  # the dead letter's failure
    latency = page.locator("#latency-chart")
    await expect(latency.locator("svg text.unit").first).to_have_text("seconds")
    await expect(latency.locator(".legend-line")).to_have_text(re.compile(r"p50.*p95"))
    assert await latency.locator("circle.dot.p95").count() >= 1
    assert page.foreign_requests == []


async def test_live_events_are_backfilled_with_titles(hub, tasks, page):
    from playwright.async_api import expect

    await page.goto(f"{hub.url}/dashboard")
    activity = page.locator("#activity")
    await expect(activity.locator("li").first).to_contain_text(SECONDS)
    await expect(activity).to_contain_text("Doomed")
    await expect(activity).to_contain_text("Cancel me")


async def test_hostile_text_is_shown_as_text(hub, tasks, page):
    from playwright.async_api import expect

    for path in ("/dashboard", "/dashboard/tasks", f"/dashboard/tasks/{tasks['done']}"):
        await page.goto(hub.url + path)
        await expect(page.get_by_text(HOSTILE).first).to_be_visible()
        assert await page.evaluate("window.pwned === undefined")
    await page.goto(f"{hub.url}/admin/tasks/task/{tasks['done']}/change/")
    await expect(page.get_by_text(HOSTILE).first).to_be_visible()
    assert await page.evaluate("window.pwned === undefined")


async def test_task_list_has_status_tabs_newest_first_and_durations(hub, tasks, page):
    from playwright.async_api import expect

    await page.goto(f"{hub.url}/dashboard/tasks")
    await expect(page.locator('[data-tab="all"]')).to_have_text(re.compile(r"all\s+4"))
    await expect(page.locator('[data-tab="completed"]')).to_have_text(re.compile(r"completed\s+1"))
    await expect(page.locator('[data-tab="cancelled"]')).to_have_text(re.compile(r"cancelled\s+1"))
    ids = await page.locator("tr[data-task-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.taskId)"
    )
    assert ids == [tasks["queued"], tasks["dead"], tasks["cancelled"], tasks["done"]]
    done = page.locator(f'tr[data-task-id="{tasks["done"]}"]')
    await expect(done).to_contain_text("attempt 1 of 4")
    await expect(done.locator("td").nth(7)).to_have_text(SECONDS)  # finished
    await expect(done.locator("td").nth(8)).to_have_text(re.compile(r"\d+(\.\d)? m?s"))

    await page.select_option("select[name=sort]", "oldest")
    await page.click(".filters button[type=submit]")
    await expect(page.locator("tr[data-task-id]").first).to_have_attribute(
        "data-task-id", tasks["done"]
    )
    await page.click('[data-tab="cancelled"]')
    await expect(page.locator("tr[data-task-id]")).to_have_count(1)


async def test_task_page_shows_line_breaks_wake_attempts_and_an_honest_end(hub, tasks, page):
    from playwright.async_api import expect

    await page.goto(f"{hub.url}/dashboard/tasks/{tasks['done']}")
    output = page.locator('pre.result[data-field="output"]')
    text = await output.inner_text()
    assert "first line\nsecond line" in text and "\\n" not in text
    wake = page.locator('tr[data-event="wake"]')
    await expect(wake).to_contain_text("wake attempt")
    await expect(wake).to_contain_text("success")
    await expect(page.locator(".timeline td").nth(1)).to_contain_text(SECONDS)

    await page.goto(f"{hub.url}/dashboard/tasks/{tasks['cancelled']}")
    await expect(page.locator("#end-label")).to_have_text("Cancelled")
    await expect(page.locator("#task-live")).not_to_contain_text("Completed")


async def test_agents_page_has_a_flag_legend_outcomes_and_titles(hub, tasks, page):
    from playwright.async_api import expect

    await page.goto(f"{hub.url}/dashboard/agents")
    await expect(page.locator("#flag-legend")).to_contain_text("unresponsive")
    await expect(page.locator("#flag-legend")).to_contain_text("busy")
    row = page.locator('tr[data-agent-id="worker-1"]')
    await expect(row.locator("[data-completed]")).to_have_text("1")
    await expect(row.locator("[data-failed]")).to_have_text("1")
    await page.goto(f"{hub.url}/dashboard/agents/worker-1")
    await expect(page.locator("[data-completed]")).to_have_text("1")
    await expect(page.locator("h1 .badge").first).to_have_text("offline")


async def test_task_form_suggests_declared_capabilities(hub, tasks, page):
    await page.goto(f"{hub.url}/dashboard/tasks/new")
    assert await page.get_attribute("#id_capabilities", "list") == "capability-suggestions"
    options = await page.locator("#capability-suggestions option").evaluate_all(
        "options => options.map(o => o.value)"
    )
    assert options == ["code", "rust"]
    await page.fill("#id_capabilities", "code")
    await page.click('[data-capability="rust"]')
    assert await page.input_value("#id_capabilities") == "code, rust"


async def test_navigation_is_usable_at_390px(hub, tasks, page):
    from playwright.async_api import expect

    await page.set_viewport_size({"width": 390, "height": 844})
    try:
        await page.goto(f"{hub.url}/dashboard")
        for name in ("Overview", "Tasks", "Agents", "Submit a task", "Admin"):
            link = page.locator("#main-nav a", has_text=name)
            box = await link.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, name
        # Wide tables scroll inside their panel; the page itself does not.
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await page.locator("#main-nav a", has_text="Tasks").click()
        await expect(page).to_have_url(f"{hub.url}/dashboard/tasks")
    finally:
        await page.set_viewport_size({"width": 1400, "height": 1000})


async def test_admin_task_list_colours_status_and_fits_1280(hub, tasks, page):
    from playwright.async_api import expect

    await page.set_viewport_size({"width": 1280, "height": 900})
    try:
        await page.goto(f"{hub.url}/admin/tasks/task/")
        await expect(page.locator("#result_list .status-badge.s-completed")).to_have_count(1)
        await expect(page.locator("#result_list thead")).to_contain_text("Agent")
        table = await page.locator("#result_list").bounding_box()
        assert table["x"] + table["width"] <= 1280
        assert await page.evaluate("document.documentElement.scrollWidth") <= 1280
        heights = await page.locator("#result_list .short-title").evaluate_all(
            "titles => titles.map(t => t.getBoundingClientRect().height)"
        )
        assert max(heights) < 2 * min(heights)  # one line each
    finally:
        await page.set_viewport_size({"width": 1400, "height": 1000})


async def test_admin_task_page_has_buttons_on_top_and_no_save(hub, tasks, page):
    from playwright.async_api import expect

    await page.set_viewport_size({"width": 1280, "height": 900})
    try:
        await page.goto(f"{hub.url}/admin/agents/agent/")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 1280
        await page.goto(f"{hub.url}/admin/tasks/task/{tasks['done']}/change/")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 1280
        await expect(page.locator(".inline-group td.field-what").nth(1)).to_contain_text(
            "wake attempt #1 success"
        )
        await expect(page.locator(".field-result_text pre")).to_contain_text("first line\nsecond")
    finally:
        await page.set_viewport_size({"width": 1400, "height": 1000})
    await page.goto(f"{hub.url}/admin/tasks/task/{tasks['dead']}/change/")
    await expect(page.locator("#lifecycle-actions")).to_contain_text("Lifecycle")
    buttons = page.locator("#lifecycle-actions button")
    await expect(buttons.first).to_be_visible()
    fieldset = await page.locator("fieldset").first.bounding_box()
    assert (await buttons.first.bounding_box())["y"] < fieldset["y"]
    await expect(page.locator("input[name=_save]")).to_have_count(0)
    await expect(page.locator("a.deletelink")).to_have_count(0)
    await expect(page.locator("fieldset.collapse details")).to_contain_text("Capability key")
    assert not await page.get_by_text("Capability key").first.is_visible()
    first_time = page.locator(".inline-group td.field-at").first
    await expect(first_time).to_have_text(SECONDS)
    assert not await page.locator(".inline-group td.original p").first.is_visible()


async def test_admin_agent_page_writes_flags_as_words(hub, tasks, page):
    from playwright.async_api import expect

    await page.goto(f"{hub.url}/admin/agents/agent/")
    await page.click("text=worker-1")
    await expect(page.locator(".field-flags_in_words .readonly").last).to_have_text("none")
    await expect(page.locator("img[src*='icon-no']")).to_have_count(0)
    await expect(page.locator(".field-declared_capabilities .readonly")).to_have_text("code, rust")
    await expect(page.locator("body")).not_to_contain_text("Channel name")
    await expect(page.locator("input[name=_save]")).to_have_count(0)


# Last: it adds a task the tests above do not expect.
async def test_a_live_event_names_its_task_by_title(hub, tasks, page):
    from playwright.async_api import expect

    await page.goto(f"{hub.url}/dashboard")
    await page.evaluate("window.sameDocument = true")
    fresh = await submit(hub, title="Fresh arrival", description="d", needed_capabilities=["gpu"])
    link = page.locator(f'#activity a[data-task-link="{fresh}"]').first
    await expect(link).to_have_text("Fresh arrival")
    assert await page.evaluate("window.sameDocument === true")
    assert page.foreign_requests == []  # on no page of this module
    assert page.js_errors == []
