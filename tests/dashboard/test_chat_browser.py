"""The conversation pages in a real browser, against a real hub and real agent sockets:
a channel's page follows what agents publish without a reload, what an operator posts
or sends reaches the agents as `operator:ops`, and hostile text stays text."""

import pytest

from tests.e2e.harness import AgentClient

pytestmark = pytest.mark.e2e

HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> & done'


@pytest.fixture
def hub(backend, start_hub):
    from tests.dashboard.browser import create_staff

    create_staff(backend)
    return start_hub()


async def test_a_channel_page_is_live_and_operators_talk_with_agents(backend, hub, browser):
    from playwright.async_api import expect

    from tests.dashboard.browser import TIMEOUT_MS, logged_in_page, screenshot

    token = backend.create_agent("alpha")
    page = await logged_in_page(browser, hub)

    # An operator opens a channel from the dashboard; an agent joins it.
    await page.click("#main-nav >> text=Channels")
    await page.fill("#new-channel [name=name]", "Ops-Room")
    await page.fill("#new-channel [name=description]", "where the fleet is steered")
    await page.click("#new-channel button")
    await page.wait_for_url(f"{hub.url}/dashboard/channels/ops-room")
    alpha = await AgentClient(hub, "alpha", token).connect(presence=False)
    await alpha.ask({"type": "channel_subscribe", "channel": "ops-room"}, "channel_subscribed")
    await expect(page.locator("#live-status")).to_have_text("live")
    await page.evaluate("window.sameDocument = true")  # lost if the page reloads

    # What the agent publishes appears without a reload, as text.
    await alpha.ask(
        {"type": "channel_publish", "channel": "ops-room", "payload": {"text": HOSTILE}},
        "channel_published",
    )
    said = page.locator("#channel-messages [data-text]")
    await expect(said).to_have_text([HOSTILE], timeout=TIMEOUT_MS)
    assert await page.evaluate("window.sameDocument === true")
    assert await page.evaluate("window.pwned === undefined")
    await expect(page.locator("#channel-messages img, #channel-messages script")).to_have_count(0)

    # The operator's post reaches the agent with the operator as sender.
    await page.fill("#channel-post textarea", "Freeze at 17:00, please.")
    await page.click("#channel-post button")
    push = await alpha.recv_type("channel_message")
    assert push["from"] == "operator:ops" and push["channel"] == "ops-room"
    assert push["payload"] == {"text": "Freeze at 17:00, please."}
    await expect(said).to_have_text([HOSTILE, "Freeze at 17:00, please."])
    await screenshot(page, "channel.png")

    # A direct message from the agent's page, and the agent's answer shown live.
    await page.goto(f"{hub.url}/dashboard/agents/alpha")
    await page.fill("#agent-message textarea", "How far along are you?")
    await page.click("#agent-message button")
    await expect(page.locator("#flash")).to_contain_text("Message sent to alpha.")
    push = await alpha.recv_type("message")
    assert push["from"] == "operator:ops" and push["payload"] == {"text": "How far along are you?"}
    await page.evaluate("window.sameDocument = true")
    await alpha.ask(
        {
            "type": "message",
            "to": push["from"],
            "reply_to": push["id"],
            "payload": {"text": "Half way <b>there</b>"},
        },
        "message_sent",
    )
    conversation = page.locator("#agent-conversation [data-text]")
    await expect(conversation).to_have_text(
        ["How far along are you?", "Half way <b>there</b>"], timeout=TIMEOUT_MS
    )
    assert await page.evaluate("window.sameDocument === true")
    await screenshot(page, "agent-conversation.png")
    assert page.js_errors == []
    await alpha.close()
