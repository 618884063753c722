"""The dashboard's conversation pages: channels and direct messages, staff only, written
through the messaging services as `operator:<username>`, every word escaped."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentcom_site.core.events import Event, EventKind
from agentcom_site.dashboard import chat_views, feed
from messaging import routing, topics, wire
from messaging.models import Channel, MailboxEntry, Message

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
PAGES = ["/dashboard/channels", "/dashboard/channels/news"]
WRITES = [
    ("/dashboard/channels", {"name": "fresh"}),
    ("/dashboard/channels/news/post", {"text": "hello"}),
    ("/dashboard/message/alpha", {"text": "hello"}),
]


@pytest.fixture
def news(db):
    return topics.create_channel(name="news", description="what's new", created_by="alpha")


@pytest.fixture
def member(make_agent, news):
    agent = make_agent("alpha")  # offline: what it is sent waits in its mailbox
    topics.subscribe(name="news", agent=agent)
    return agent


# --- who may ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_readers_are_sent_to_the_login(client, news, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize(("path", "form"), WRITES)
def test_anonymous_and_non_staff_writers_are_sent_to_the_login(client, member, path, form):
    visitor = Client()
    visitor.force_login(get_user_model().objects.create_user("visitor", password="x"))
    for caller in (client, visitor):
        response = caller.post(path, form)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert not Message.objects.exists() and Channel.objects.count() == 1


@pytest.mark.parametrize("path", PAGES)
def test_staff_read_the_pages(staff_client, news, path):
    assert staff_client.get(path).status_code == 200


@pytest.mark.parametrize(("path", "form"), WRITES)
def test_writes_need_the_csrf_token(staff, member, path, form):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.post(path, form).status_code == 403
    assert not Message.objects.exists() and Channel.objects.count() == 1


def test_reading_is_get_only_and_posting_is_post_only(staff_client, member):
    assert staff_client.get("/dashboard/channels/news/post").status_code == 405
    assert staff_client.get("/dashboard/message/alpha").status_code == 405


# --- channels -------------------------------------------------------------------------


def test_a_post_is_published_as_the_operator_and_mailboxed_for_offline_members(
    staff_client, member
):
    response = staff_client.post("/dashboard/channels/news/post", {"text": "deploy at noon"})

    assert response.status_code == 302 and response["Location"] == "/dashboard/channels/news"
    message = Message.objects.get()
    assert message.sender == "operator:ops" and message.payload == {"text": "deploy at noon"}
    assert message.channel.name == "news" and message.channel_seq == 1
    letter = MailboxEntry.objects.get(owner="alpha").letter
    assert letter.sender == "operator:ops" and letter.payload["channel"] == "news"
    page = staff_client.get("/dashboard/channels/news").content.decode()
    assert "deploy at noon" in page and "operator:ops" in page


def test_hostile_text_is_shown_escaped_everywhere(staff_client, member):
    topics.publish(name="news", sender="alpha", payload={"text": HOSTILE})
    staff_client.post("/dashboard/channels/news/post", {"text": HOSTILE})
    staff_client.post("/dashboard/message/alpha", {"text": HOSTILE})

    for path in ("/dashboard/channels/news", "/dashboard/agents/alpha"):
        html = staff_client.get(path).content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_a_payload_without_text_is_shown_as_escaped_json(staff_client, member):
    topics.publish(name="news", sender="alpha", payload={"html": "<b>bold</b>"})
    html = staff_client.get("/dashboard/channels/news").content.decode()
    assert "&quot;html&quot;: &quot;&lt;b&gt;bold&lt;/b&gt;&quot;" in html


def test_the_history_comes_in_pages_of_the_newest_first(staff_client, member):
    for n in range(1, 121):
        topics.publish(name="news", sender="alpha", payload={"text": f"line {n:03}"})

    newest = staff_client.get("/dashboard/channels/news").content.decode()
    older = staff_client.get("/dashboard/channels/news", {"before": 71}).content.decode()
    oldest = staff_client.get("/dashboard/channels/news", {"before": 21}).content.decode()

    assert newest.count('class="chat-message') == chat_views.CHANNEL_PAGE
    assert "line 071" in newest and "line 120" in newest and "line 070" not in newest
    assert 'href="?before=71"' in newest
    assert "line 021" in older and "line 070" in older and "line 071" not in older
    assert "line 001" in oldest and "line 020" in oldest and "?before=" not in oldest
    bogus = staff_client.get("/dashboard/channels/news", {"before": "-1<x>"})
    assert bogus.status_code == 200 and "line 120" in bogus.content.decode()


def test_the_channel_list_shows_members_and_last_activity_and_is_bounded(
    staff_client, member, make_agent, monkeypatch
):
    topics.create_channel(name="quiet", description="", created_by="operator:ops")
    topics.create_channel(name="busy", description="", created_by="operator:ops")
    topics.subscribe(name="news", agent=make_agent("beta"))
    topics.publish(name="news", sender="alpha", payload={"text": "a"})
    topics.publish(name="busy", sender="alpha", payload={"text": "b"})

    html = staff_client.get("/dashboard/channels").content.decode()
    rows = [html.index(f'data-channel="{name}"') for name in ("busy", "news", "quiet")]
    assert rows == sorted(rows)  # the latest activity first, silent channels last
    news_row = html[rows[1] : html.index("</tr>", rows[1])]
    assert '<td class="n" data-members>2</td>' in news_row

    monkeypatch.setattr(chat_views, "CHANNELS_SHOWN", 2)
    html = staff_client.get("/dashboard/channels").content.decode()
    assert 'data-channel="quiet"' not in html


def test_an_operator_creates_a_channel(staff_client):
    response = staff_client.post("/dashboard/channels", {"name": "Dev-Talk", "description": "x"})
    assert response["Location"] == "/dashboard/channels/dev-talk"
    assert Channel.objects.get().created_by == "operator:ops"
    refused = staff_client.post("/dashboard/channels", {"name": "no spaces"}, follow=True)
    assert "Channel not created" in refused.content.decode() and Channel.objects.count() == 1


@pytest.mark.parametrize(
    ("path", "form", "problem"),
    [
        ("/dashboard/channels/news/post", {"text": ""}, "Not posted"),
        ("/dashboard/channels/news/post", {"text": "x" * 4001}, "Not posted"),
        ("/dashboard/channels/nowhere/post", {"text": "hi"}, "no channel nowhere"),
        ("/dashboard/channels/bad%20name/post", {"text": "hi"}, "Not posted"),
        ("/dashboard/message/nobody", {"text": "hi"}, "there is no agent nobody"),
        ("/dashboard/message/bad:id", {"text": "hi"}, "Not sent"),
    ],
)
def test_refusals_are_shown_and_change_nothing(staff_client, member, path, form, problem):
    response = staff_client.post(path, form, follow=True)
    assert response.status_code == 200 and problem in response.content.decode()
    assert not Message.objects.exists() and not MailboxEntry.objects.exists()


def test_operator_posts_spend_the_operator_budget_when_operators_are_limited(
    staff_client, member, small_rate_budgets
):
    small_rate_budgets.AGENTCOM_RATE_OPERATOR_FACTOR = 0.4  # a budget of 4: two posts
    answers = [
        staff_client.post("/dashboard/channels/news/post", {"text": f"{n}"}, follow=True)
        for n in range(3)
    ]
    assert Message.objects.count() == 2
    assert "Not posted" in answers[2].content.decode()


# --- direct messages from the agent page ---------------------------------------------------


def test_a_refused_post_returns_to_its_page_with_the_reason(staff_client, member):
    response = staff_client.post("/dashboard/channels/news/post", {"text": "  "})
    assert response["Location"] == "/dashboard/channels/news"
    response = staff_client.post("/dashboard/message/alpha", {"text": ""})
    assert response["Location"] == "/dashboard/agents/alpha"
    page = staff_client.get("/dashboard/agents/alpha").content.decode()
    assert "Not sent: This field is required." in page


def test_a_direct_message_goes_to_the_mailbox_of_an_offline_agent(staff_client, member):
    response = staff_client.post("/dashboard/message/alpha", {"text": "status?"})

    assert response["Location"] == "/dashboard/agents/alpha"
    letter = MailboxEntry.objects.get(owner="alpha").letter
    assert letter.sender == "operator:ops" and letter.payload == {"text": "status?"}
    assert Message.objects.get().recipient == "alpha"


def test_the_agent_page_shows_the_conversation_with_operators_only(
    staff_client, member, make_agent
):
    make_agent("beta")
    asked = routing.send_message(sender="operator:kim", to="alpha", payload={"text": "ready?"})
    routing.send_message(sender="alpha", to=None, payload={"text": "yes"}, reply_to=asked.id)
    routing.send_message(sender="alpha", to="beta", payload={"text": "psst"})
    routing.send_message(sender="alpha", to="operator:kim", payload={"text": "all green"})

    html = staff_client.get("/dashboard/agents/alpha").content.decode()
    section = html[html.index('id="agent-conversation"') :]
    assert "ready?" in section and "operator:kim" in section and "yes" in section
    assert "all green" in section
    assert "psst" not in section
    assert 'id="agent-message"' in html and 'name="csrfmiddlewaretoken"' in section


# --- the live feed --------------------------------------------------------------------


def test_the_feed_tells_dashboards_where_something_was_said_but_not_what(member):
    published = topics.publish(name="news", sender="alpha", payload={"text": "secret"})

    channel = feed.compact(
        Event(
            EventKind.CHANNEL_PUBLISHED,
            agent_id="alpha",
            data={"frame": wire.channel_push(published, "news")},
        )
    )
    direct = routing.send_message(sender="operator:ops", to="alpha", payload={"text": "x"})
    routed = feed.compact(
        Event(
            EventKind.MESSAGE_ROUTED,
            agent_id="operator:ops",
            data={"frame": wire.message_push(direct), "recipient": "alpha", "targets": []},
        )
    )
    between_agents = feed.compact(
        Event(
            EventKind.MESSAGE_ROUTED,
            agent_id="alpha",
            data={"frame": {"from": "alpha", "reply_to": None}, "recipient": "beta"},
        )
    )

    assert [(e["type"], e["channel"], e["from"]) for e in channel] == [
        ("channel_message", "news", "alpha")
    ]
    assert [(e["type"], e["agent_id"], e["from"]) for e in routed] == [
        ("direct_message", "alpha", "operator:ops")
    ]
    answer = routing.send_message(sender="alpha", to="operator:ops", payload={"text": "y"})
    to_operator = feed.compact(
        Event(
            EventKind.MESSAGE_ROUTED,
            agent_id="alpha",
            data={"frame": wire.message_push(answer), "recipient": "operator:ops", "targets": []},
        )
    )
    assert [(e["type"], e["agent_id"], e["to"]) for e in to_operator] == [
        ("direct_message", "alpha", "operator:ops")
    ]
    assert between_agents == []
    assert "secret" not in str(channel) and "payload" not in str(routed)


# --- fuzzing ----------------------------------------------------------------------------

form_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=4100)
fields = st.dictionaries(
    st.sampled_from(["text", "name", "description", "csrfmiddlewaretoken", "x"]),
    form_text,
    max_size=4,
)
targets = st.sampled_from(
    [
        "/dashboard/channels/news/post",
        "/dashboard/channels/NEWS/post",
        "/dashboard/message/alpha",
        "/dashboard/message/alpha/../x",
        "/dashboard/channels",
    ]
)


WRITABLE = {
    "/dashboard/channels/news/post",
    "/dashboard/channels/NEWS/post",
    "/dashboard/message/alpha",
}


def accepted(text: str) -> bool:
    """What the form takes: some words, at most the limit, no NUL (Django refuses it)."""
    return bool(text.strip()) and len(text.strip()) <= 4000 and "\x00" not in text


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(path=targets, form=fields)
def test_no_post_form_input_is_a_server_error(staff_client, member, path, form):
    before = Message.objects.count()

    response = staff_client.post(path, form)

    assert response.status_code == 302
    stored = Message.objects.count() - before
    expected = path in WRITABLE and accepted(form.get("text", ""))
    assert stored == (1 if expected else 0)
