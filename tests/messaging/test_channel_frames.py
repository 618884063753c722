"""Channel frames on the agent socket, persisted subscriptions and the live groups."""

import pytest
from asgiref.sync import sync_to_async

from agents.models import Agent
from messaging import topics
from messaging.models import Channel, MailboxEntry, Message, Subscription
from tests.conftest import Api
from tests.messaging.sockets import ask, frames, new_agent, online, quiet
from tests.sockets import agent_socket, db

pytestmark = pytest.mark.django_db(transaction=True)


@db
def make_channel(name: str = "news") -> Channel:
    return topics.create_channel(name=name, description="d", created_by="ops")


@db
def state() -> tuple:
    return (
        list(Channel.objects.values_list("name", "last_seq")),
        list(Subscription.objects.values_list("channel__name", "agent__agent_id")),
        Message.objects.count(),
        MailboxEntry.objects.count(),
    )


@db
def subscribers(name: str = "news") -> list[str]:
    return topics.subscriber_ids(Channel.objects.get(name=name))


async def test_subscribe_persists_once_and_tells_the_other_subscribers():
    await make_channel()
    alpha, beta = await online("alpha"), await online("beta")
    assert await ask(alpha, {"type": "channel_subscribe", "channel": "#News"}) == {
        "type": "channel_subscribed",
        "channel": "#News",
    }
    assert await ask(beta, {"type": "channel_subscribe", "channel": "news"}) == {
        "type": "channel_subscribed",
        "channel": "news",
    }
    assert await frames(alpha, 1) == [
        {"type": "channel_agent_joined", "channel": "news", "agent_id": "beta"}
    ]
    again = await ask(beta, {"type": "channel_subscribe", "channel": "NEWS"})
    assert again == {"type": "channel_subscribed", "channel": "NEWS", "note": "already_subscribed"}
    assert await subscribers() == ["alpha", "beta"]
    assert await quiet(alpha) and await quiet(beta)  # no second join, none to the joiner
    await alpha.close()
    await beta.close()


async def test_publish_pushes_to_the_other_subscribers_and_mailboxes_offline_ones():
    await make_channel()
    alpha, beta = await online("alpha"), await online("beta")
    await new_agent("gamma")
    await db(topics.subscribe)(name="news", agent=await db(Agent.objects.get)(agent_id="gamma"))
    for sock in (alpha, beta):
        await ask(sock, {"type": "channel_subscribe", "channel": "news"})
    await frames(alpha, 1)  # beta joined

    published = await ask(
        alpha,
        {"type": "channel_publish", "channel": "#NEWS", "payload": {"v": 1}, "message_type": "x"},
    )
    assert published["type"] == "channel_published" and published["channel"] == "#NEWS"
    assert published["seq"] == 1 and len(published["id"]) == 16
    [push] = await frames(beta, 1)
    assert push == {
        "type": "channel_message",
        "channel": "news",
        "id": published["id"],
        "from": "alpha",
        "message_type": "x",
        "payload": {"v": 1},
        "reply_to": None,
        "timestamp": push["timestamp"],
    }
    assert await quiet(alpha)  # not to the publisher
    copies = await db(lambda: list(MailboxEntry.objects.values_list("owner", "letter__payload")))()
    assert copies == [("gamma", {"v": 1, "channel": "news"})]
    second = await ask(alpha, {"type": "channel_publish", "channel": "news", "payload": {}})
    assert second["seq"] == 2
    await alpha.close()
    await beta.close()


async def test_history_and_list_channels():
    await make_channel()
    await make_channel("ops")
    alpha = await online("alpha")
    await ask(alpha, {"type": "channel_subscribe", "channel": "news"})
    for n in range(3):
        await ask(alpha, {"type": "channel_publish", "channel": "news", "payload": {"n": n}})
    history = await ask(alpha, {"type": "channel_history", "channel": "#news", "limit": 2})
    assert history["type"] == "channel_history" and history["channel"] == "#news"
    assert [e["seq"] for e in history["messages"]] == [2, 3]
    entry = history["messages"][1]
    assert entry["message"]["payload"] == {"n": 2} and isinstance(entry["stored_at"], int)
    assert entry["message"]["message_type"] == "chat" and entry["message"]["from"] == "alpha"
    since = await ask(alpha, {"type": "channel_history", "channel": "news", "since": 2})
    assert [e["seq"] for e in since["messages"]] == [3]
    everything = await ask(alpha, {"type": "channel_history", "channel": "news"})
    assert len(everything["messages"]) == 3
    unknown = await ask(alpha, {"type": "channel_history", "channel": "nowhere"})
    assert unknown == {"type": "channel_history", "channel": "nowhere", "messages": []}

    listed = await ask(alpha, {"type": "list_channels"})
    assert listed["type"] == "channels"
    assert [(c["name"], c["subscriber_count"]) for c in listed["channels"]] == [
        ("news", 1),
        ("ops", 0),
    ]
    assert set(listed["channels"][0]) == {"name", "description", "subscriber_count", "created_at"}
    await alpha.close()


async def test_unsubscribe_stops_the_pushes():
    await make_channel()
    alpha, beta = await online("alpha"), await online("beta")
    for sock in (alpha, beta):
        await ask(sock, {"type": "channel_subscribe", "channel": "news"})
    await frames(alpha, 1)
    reply = await ask(beta, {"type": "channel_unsubscribe", "channel": "News"})
    assert reply == {"type": "channel_unsubscribed", "channel": "News"}
    assert await subscribers() == ["alpha"]
    await ask(alpha, {"type": "channel_publish", "channel": "news", "payload": {}})
    assert await quiet(beta)
    await alpha.close()
    await beta.close()


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "channel_subscribe", "channel": "nowhere"},
        {"type": "channel_unsubscribe", "channel": "nowhere"},
        {"type": "channel_publish", "channel": "nowhere", "payload": {}},
    ],
)
async def test_unknown_channels_are_refused_and_change_nothing(frame):
    await make_channel()
    alpha = await online("alpha")
    before = await state()
    reply = await ask(alpha, frame)
    assert reply["type"] == "error" and reply["error"] == "channel_not_found"
    assert await state() == before
    await alpha.close()


@pytest.mark.parametrize(
    ("frame", "field", "error"),
    [
        ({"type": "channel_subscribe"}, "channel", "required"),
        ({"type": "channel_subscribe", "channel": "###"}, "channel", "invalid_value"),
        ({"type": "channel_subscribe", "channel": "n" * 65}, "channel", "too_long"),
        ({"type": "channel_unsubscribe", "channel": 3}, "channel", "wrong_type"),
        ({"type": "channel_publish", "channel": "news"}, "payload", "required"),
        ({"type": "channel_publish", "channel": "news", "payload": [1]}, "payload", "wrong_type"),
        ({"type": "channel_publish", "channel": "news", "payload": 7}, "payload", "wrong_type"),
        ({"type": "channel_history", "channel": "news", "limit": 201}, "limit", "out_of_range"),
        ({"type": "channel_history", "channel": "news", "since": -1}, "since", "out_of_range"),
        ({"type": "channel_history", "channel": "news", "limit": "5"}, "limit", "wrong_type"),
    ],
)
async def test_bad_channel_frames_are_validation_failures(frame, field, error):
    await make_channel()
    alpha = await online("alpha")
    before = await state()
    reply = await ask(alpha, frame)
    assert reply["error"] == "validation_failed" and reply["message_type"] == frame["type"]
    assert reply["errors"][0]["field"] == field and reply["errors"][0]["error"] == error
    assert await state() == before
    await alpha.close()


async def test_identify_joins_the_persisted_channels_without_duplicates():
    await make_channel()
    token = await new_agent("beta")
    beta_agent = await db(Agent.objects.get)(agent_id="beta")
    await db(topics.subscribe)(name="news", agent=beta_agent)  # while offline
    alpha = await online("alpha")
    beta = await agent_socket("beta", token)
    await ask(alpha, {"type": "channel_publish", "channel": "news", "payload": {"n": 1}})
    assert [f["payload"] for f in await frames(beta, 1)] == [{"n": 1}]
    # Identify again on the same socket: still one membership, so one push.
    assert (await beta.identify("beta", token))["type"] == "identified"
    await ask(alpha, {"type": "channel_publish", "channel": "news", "payload": {"n": 2}})
    assert [f["payload"] for f in await frames(beta, 1)] == [{"n": 2}]
    assert await quiet(beta)
    # Once disconnected, the subscriber is reached through its mailbox instead.
    await beta.close()
    await ask(alpha, {"type": "channel_publish", "channel": "news", "payload": {"n": 3}})
    owners = await db(lambda: list(MailboxEntry.objects.values_list("owner", "letter__payload")))()
    assert owners == [("beta", {"n": 3, "channel": "news"})]
    await alpha.close()


async def test_an_http_subscribe_attaches_the_live_socket_at_once():
    await make_channel()
    token = await new_agent("beta")
    alpha = await online("alpha")
    beta = await agent_socket("beta", token)
    status, body = await sync_to_async(Api(token).post)("/api/channels/news/subscribe")
    assert (status, body["status"]) == (200, "subscribed")
    await ask(alpha, {"type": "channel_publish", "channel": "news", "payload": {"live": True}})
    [push] = await frames(beta, 1)
    assert push["type"] == "channel_message" and push["payload"] == {"live": True}
    status, _ = await sync_to_async(Api(token).post)("/api/channels/news/unsubscribe")
    await ask(alpha, {"type": "channel_publish", "channel": "news", "payload": {}})
    assert status == 200 and await quiet(beta)
    await alpha.close()
    await beta.close()
