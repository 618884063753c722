"""HTTP channels: create, inspect, subscribe, publish and history, with every refusal."""

import pytest

from messaging import topics
from messaging.models import Channel, MailboxEntry, Message, Subscription
from tests.conftest import Api

pytestmark = pytest.mark.django_db


def state() -> tuple:
    return (
        list(Channel.objects.values_list("name", "last_seq")),
        list(Subscription.objects.values_list("channel__name", "agent__agent_id")),
        Message.objects.count(),
        MailboxEntry.objects.count(),
    )


@pytest.fixture
def news(db) -> Channel:
    return topics.create_channel(name="news", description="what's new", created_by="alpha")


def test_create_normalises_the_name_and_echoes_it_as_sent(api_for, ops):
    status, body = api_for("alpha").post(
        "/api/channels", {"name": "#Dev-Talk", "description": "chat"}
    )
    assert (status, body) == (201, {"status": "created", "channel": "#Dev-Talk"})
    channel = Channel.objects.get()
    assert (channel.name, channel.description, channel.created_by) == ("dev-talk", "chat", "alpha")
    status, body = ops.post("/api/channels", {"name": "dev-talk"})
    assert status == 409 and body["error"] == "channel_exists"
    assert ops.post("/api/channels", {"name": "ops"})[0] == 201
    assert Channel.objects.get(name="ops").created_by == "operator:ops"


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        ({}, "name", "required"),
        ({"name": "###"}, "name", "invalid_value"),
        ({"name": "x" * 65}, "name", "too_long"),
        ({"name": 5}, "name", "wrong_type"),
        ({"name": "ok", "description": "d" * 1_025}, "description", "too_long"),
        ({"name": "dev talk"}, "name", "invalid_value"),
        ({"name": "Dev-Talk!"}, "name", "invalid_value"),
        ({"name": "a:b"}, "name", "invalid_value"),
        ({"name": "-dev"}, "name", "invalid_value"),
        ({"name": "d\u00e9v"}, "name", "invalid_value"),
        ({"name": "dev\u0430"}, "name", "invalid_value"),  # Cyrillic a, looks like "a"
    ],
)
def test_bad_channel_bodies_are_422(api_for, body, field, error):
    status, answer = api_for("alpha").post("/api/channels", body)
    assert status == 422 and answer["errors"][0]["field"] == field
    assert answer["errors"][0]["error"] == error
    assert not Channel.objects.exists()


def test_list_and_detail_count_subscribers(api_for, news, make_agent):
    alpha = api_for("alpha")
    topics.subscribe(name="news", agent=make_agent("beta"))
    status, body = alpha.get("/api/channels")
    assert status == 200 and body["channels"] == [
        {
            "name": "news",
            "description": "what's new",
            "subscriber_count": 1,
            "created_at": body["channels"][0]["created_at"],
        }
    ]
    status, detail = alpha.get("/api/channels/%23NEWS")
    assert status == 200 and detail["subscribers"] == ["beta"]
    assert detail["subscriber_count"] == 1 and detail["created_by"] == "alpha"
    assert detail["name"] == "news" and isinstance(detail["created_at"], int)


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("post", "/subscribe"),
        ("post", "/unsubscribe"),
        ("post", "/publish"),
        ("get", "/history"),
    ],
)
def test_unknown_channels_are_404_and_echo_the_name(api_for, method, suffix):
    alpha = api_for("alpha")
    before = state()
    path = f"/api/channels/Nowhere{suffix}"
    status, body = alpha.get(path) if method == "get" else alpha.post(path, {"payload": {}})
    assert status == 404 and body["error"] == "channel_not_found"
    assert body["channel"] == "Nowhere"
    assert state() == before


def test_subscribe_twice_then_unsubscribe(api_for, news):
    beta = api_for("beta")
    assert beta.post("/api/channels/News/subscribe") == (
        200,
        {"status": "subscribed", "channel": "News"},
    )
    assert beta.post("/api/channels/news/subscribe")[1]["status"] == "already_subscribed"
    assert Subscription.objects.count() == 1
    assert beta.get("/api/agents/beta/subscriptions")[1] == {
        "agent_id": "beta",
        "channels": ["news"],
    }
    assert beta.post("/api/channels/news/unsubscribe") == (
        200,
        {"status": "unsubscribed", "channel": "news"},
    )
    assert not Subscription.objects.exists()
    assert beta.get("/api/agents/nobody/subscriptions")[1]["channels"] == []


def test_subscribing_needs_an_agent_token(ops, news):
    before = state()
    for suffix in ("subscribe", "unsubscribe"):
        status, body = ops.post(f"/api/channels/news/{suffix}", {"payload": {}})
        assert status == 403 and body["error"] == "forbidden"
    assert Api().post("/api/channels/news/subscribe")[0] == 401
    assert state() == before


def test_publish_numbers_stores_and_mailboxes_offline_subscribers(api_for, news, make_agent):
    alpha = api_for("alpha")
    topics.subscribe(name="news", agent=make_agent("alpha"))
    topics.subscribe(name="news", agent=make_agent("beta"))
    topics.subscribe(name="news", agent=make_agent("gamma", online=True))
    status, body = alpha.post("/api/channels/NEWS/publish", {"payload": {"v": 1}, "type": "info"})
    assert status == 200 and body["status"] == "published" and body["seq"] == 1
    assert alpha.post("/api/channels/news/publish", {"payload": {}})[1]["seq"] == 2
    # Only the offline subscriber other than the publisher gets mailbox copies.
    copies = list(MailboxEntry.objects.order_by("seq").values_list("owner", "letter__payload"))
    assert copies == [("beta", {"v": 1, "channel": "news"}), ("beta", {"channel": "news"})]
    stored = Message.objects.get(id=body["id"])
    assert stored.payload == {"v": 1} and stored.channel_seq == 1 and stored.message_type == "info"


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        ({}, "payload", "required"),
        ({"payload": [1]}, "payload", "wrong_type"),
        ({"payload": None}, "payload", "wrong_type"),
        ({"payload": {}, "type": "t" * 65}, "type", "too_long"),
    ],
)
def test_bad_publish_bodies_are_422_and_change_nothing(api_for, news, body, field, error):
    alpha = api_for("alpha")
    before = state()
    status, answer = alpha.post("/api/channels/news/publish", body)
    assert status == 422 and answer["errors"][0]["field"] == field
    assert answer["errors"][0]["error"] == error
    assert state() == before


def test_history_is_the_last_limit_after_since_oldest_first(api_for, news):
    reader = api_for("reader")
    ids = [topics.publish(name="news", sender="alpha", payload={"n": i}).id for i in range(5)]
    status, body = reader.get("/api/channels/#news".replace("#", "%23") + "/history", limit=2)
    assert status == 200 and body["channel"] == "#news" and body["count"] == 2
    assert [e["seq"] for e in body["messages"]] == [4, 5]
    entry = body["messages"][0]
    assert set(entry) == {"seq", "message", "stored_at"} and entry["message"]["id"] == ids[3]
    assert entry["message"]["payload"] == {"n": 3} and entry["message"]["from"] == "alpha"
    since = reader.get("/api/channels/news/history", since=3)[1]
    assert [e["seq"] for e in since["messages"]] == [4, 5]
    for bad in ({"limit": "201"}, {"limit": "0"}, {"since": "abc"}, {"since": "-1"}):
        assert reader.get("/api/channels/news/history", **bad)[0] == 422


def test_a_channel_keeps_its_last_200_messages(news):
    for i in range(203):
        topics.publish(name="news", sender="alpha", payload={"n": i})
    seqs = list(Message.objects.filter(channel=news).values_list("channel_seq", flat=True))
    assert len(seqs) == 200 and min(seqs) == 4 and max(seqs) == 203
    assert [m.channel_seq for m in topics.history("news", limit=200)] == list(range(4, 204))


def test_publishes_are_not_in_the_message_history(api_for, news):
    topics.publish(name="news", sender="alpha", payload={"channel": "news"})
    assert api_for("reader").get("/api/messages")[1]["messages"] == []


def test_the_admin_shows_channels_and_messages_read_only(admin_client, news):
    topics.publish(name="news", sender="alpha", payload={})
    for page in ("channel", "message", "mailboxentry", "hourlytraffic", "configvalue"):
        assert admin_client.get(f"/admin/messaging/{page}/").status_code == 200
    assert admin_client.get(f"/admin/messaging/channel/{news.pk}/change/").status_code == 200
    assert admin_client.get("/admin/messaging/channel/add/").status_code == 403


def test_paths_are_exact(api_for):
    alpha = api_for("alpha")
    assert alpha.get("/api/channels/")[0] == 404
    assert alpha.get("/api/messages/")[0] == 404
    status, body = alpha.send("DELETE", "/api/channels")
    assert (status, body["error"]) == (405, "method_not_allowed")
