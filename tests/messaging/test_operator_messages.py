"""Operators in the conversation over HTTP: they send and publish as `operator:<name>`,
through the same services as agents, and no agent can take that name."""

import pytest

from messaging import topics
from messaging.models import MailboxEntry, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def news(db):
    return topics.create_channel(name="news", description="", created_by="operator:ops")


def test_an_operator_token_sends_a_direct_message_as_the_operator(ops, api_for):
    beta = api_for("beta")  # offline: the message waits in its mailbox

    status, sent = ops.post("/api/message", {"to": "beta", "payload": {"text": "hello"}})

    assert status == 200 and sent["status"] == "sent"
    assert Message.objects.get(id=sent["id"]).sender == "operator:ops"
    box = beta.get("/api/mailbox/beta")[1]
    assert [(m["id"], m["from"]) for m in box["messages"]] == [(sent["id"], "operator:ops")]


def test_an_operator_dm_to_an_unknown_agent_is_refused_and_stores_nothing(ops):
    status, answer = ops.post("/api/message", {"to": "nobody", "payload": {"text": "hi"}})
    assert status == 404 and answer["error"] == "unknown_agent"
    assert not Message.objects.exists()


def test_an_operator_publishes_and_offline_members_get_the_operator_as_sender(
    ops, api_for, news, make_agent
):
    member = api_for("member")
    assert member.post("/api/channels/news/subscribe")[0] == 200

    status, published = ops.post("/api/channels/news/publish", {"payload": {"text": "deploy"}})

    assert status == 200 and published["seq"] == 1
    history = member.get("/api/channels/news/history")[1]["messages"]
    assert [m["message"]["from"] for m in history] == ["operator:ops"]
    letter = MailboxEntry.objects.get(owner="member").letter
    assert letter.sender == "operator:ops" and letter.payload["channel"] == "news"


def test_a_staff_session_posts_with_csrf_only(staff, news):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    refused = client.post(
        "/api/channels/news/publish", {"payload": {}}, content_type="application/json"
    )
    assert refused.status_code == 403 and not Message.objects.exists()


def test_an_agent_cannot_send_as_an_operator(api_for, make_agent):
    make_agent("beta")
    alpha = api_for("alpha")

    status, sent = alpha.post(
        "/api/message", {"to": "beta", "from": "operator:ops", "payload": {"text": "x"}}
    )

    assert status == 200  # `from` in a body is ignored (PROTOCOL.md §4.2)
    assert Message.objects.get(id=sent["id"]).sender == "alpha"


@pytest.mark.parametrize("agent_id", ["operator:ops", "OPERATOR:ops", "ops:x"])
def test_no_agent_id_can_take_the_operator_shape(ops, agent_id):
    from agentcom_site.core.errors import ValidationFailed
    from agents import services

    status, answer = ops.post("/admin/tokens", {"agent_id": agent_id})
    assert status == 422 and answer["errors"][0]["error"] == "invalid_value"
    with pytest.raises(ValidationFailed):
        services.ensure_agent(agent_id)


def test_an_agent_writes_to_an_operator_without_a_push_or_a_mailbox(api_for, ops):
    alpha = api_for("alpha")

    status, sent = alpha.post("/api/message", {"to": "operator:ops", "payload": {"text": "done"}})

    assert status == 200
    message = Message.objects.get(id=sent["id"])
    assert (message.sender, message.recipient, message.kind) == ("alpha", "operator:ops", "direct")
    assert not MailboxEntry.objects.exists()
    history = ops.get("/api/messages")[1]["messages"]
    assert [(m["from"], m["to"]) for m in history] == [("alpha", "operator:ops")]


@pytest.mark.parametrize("to", ["operator:", "operator:-x", "operator:a b", "Operator:ops"])
def test_a_malformed_operator_address_is_refused(api_for, to):
    status, answer = api_for("alpha").post("/api/message", {"to": to, "payload": {}})
    assert status == 422 and answer["errors"][0]["field"] == "to"
    assert not Message.objects.exists()


def test_history_filters_on_an_operator_as_sender_or_recipient(api_for, ops, make_agent):
    make_agent("beta")
    alpha = api_for("alpha")
    asked = ops.post("/api/message", {"to": "alpha", "payload": {"text": "?"}})[1]
    answered = alpha.post("/api/message", {"to": "operator:ops", "payload": {"text": "!"}})[1]
    alpha.post("/api/message", {"to": "beta", "payload": {}})

    sent = ops.get("/api/messages", **{"from": "operator:ops"})[1]["messages"]
    received = ops.get("/api/messages", to="operator:ops")[1]["messages"]

    assert [m["id"] for m in sent] == [asked["id"]]
    assert [m["id"] for m in received] == [answered["id"]]
