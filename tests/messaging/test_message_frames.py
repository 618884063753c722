"""The `message` frame on the agent socket: pushes, mailboxes, threads and refusals."""

import re

import pytest
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

from agents.models import Agent
from messaging.models import HourlyTraffic, MailboxEntry, Message
from tests.messaging.sockets import ask, frames, mailbox_of, new_agent, online, quiet
from tests.sockets import Socket, db

pytestmark = pytest.mark.django_db(transaction=True)

HEX16 = re.compile(r"^[0-9a-f]{16}$")


@db
def state() -> tuple:
    return (
        list(Message.objects.values_list("id", flat=True)),
        list(MailboxEntry.objects.values_list("seq", flat=True)),
        list(HourlyTraffic.objects.values_list("agent_id", "sent", "received")),
    )


async def test_a_direct_message_is_pushed_to_the_online_recipient():
    alpha, beta = await online("alpha"), await online("beta")
    await alpha.send(
        {"type": "message", "to": "beta", "payload": {"text": "hi"}, "message_type": "question"}
    )
    [sent] = await frames(alpha, 1)
    assert sent["type"] == "message_sent" and HEX16.match(sent["id"])
    [push] = await frames(beta, 1)
    assert push == {
        "type": "message",
        "id": sent["id"],
        "from": "alpha",
        "message_type": "question",
        "payload": {"text": "hi"},
        "reply_to": None,
        "timestamp": push["timestamp"],
    }
    assert isinstance(push["timestamp"], int)
    stored = await db(Message.objects.get)(id=sent["id"])
    assert (stored.kind, stored.recipient, stored.thread_root) == ("direct", "beta", sent["id"])
    assert await mailbox_of("beta") == []
    assert await quiet(alpha)
    await alpha.close()
    await beta.close()


async def test_an_offline_recipient_gets_a_mailbox_copy_an_unknown_one_a_refusal():
    alpha = await online("alpha")
    await new_agent("beta")
    reply = await ask(alpha, {"type": "message", "to": "beta", "payload": {"to": "beta"}})
    assert reply["type"] == "message_sent"
    assert await mailbox_of("beta") == [(reply["id"], "alpha", {"to": "beta"})]
    before = await state()
    refused = await ask(alpha, {"type": "message", "to": "ghost", "payload": {}})
    assert (refused["type"], refused["error"], refused["to"]) == ("error", "unknown_agent", "ghost")
    assert await state() == before and await mailbox_of("ghost") == []
    assert (await ask(alpha, {"type": "ping"}))["type"] == "pong"  # the socket stays usable
    await alpha.close()


async def test_broadcast_reaches_each_agent_exactly_once():
    alpha, beta = await online("alpha"), await online("beta")
    await new_agent("gamma", token_count=2)  # offline, with two live tokens
    await alpha.send({"type": "message", "to": "broadcast", "payload": {"all": 1}})
    mine = await frames(alpha, 2)
    assert sorted(f["type"] for f in mine) == ["message", "message_sent"]
    message_id = next(f["id"] for f in mine if f["type"] == "message_sent")
    [push] = await frames(beta, 1)
    assert push["id"] == message_id and push["from"] == "alpha"
    assert [row[0] for row in await mailbox_of("gamma")] == [message_id]
    assert await mailbox_of("alpha") == [] and await mailbox_of("beta") == []
    assert await quiet(alpha) and await quiet(beta)
    # `to` null is a broadcast too.
    await alpha.send({"type": "message", "to": None})
    assert len(await frames(beta, 1)) == 1
    assert len(await mailbox_of("gamma")) == 2
    await alpha.close()
    await beta.close()


async def test_a_reply_joins_its_parents_thread():
    alpha, beta = await online("alpha"), await online("beta")
    first = await ask(alpha, {"type": "message", "to": "beta", "payload": {}})
    await frames(beta, 1)
    await beta.send({"type": "message", "to": "alpha", "reply_to": first["id"]})
    [reply] = await frames(beta, 1)
    assert reply["type"] == "message_sent"
    [push] = await frames(alpha, 1)
    assert push["reply_to"] == first["id"]
    stored = await db(Message.objects.get)(id=reply["id"])
    assert stored.thread_root == first["id"]
    await alpha.close()
    await beta.close()


@pytest.mark.parametrize(
    ("frame", "field", "error"),
    [
        ({"to": "beta", "payload": [1, 2]}, "payload", "wrong_type"),
        ({"to": "beta", "payload": "text"}, "payload", "wrong_type"),
        ({"to": 5}, "to", "wrong_type"),
        ({"to": ""}, "to", "invalid_value"),
        ({"to": "b" * 129}, "to", "too_long"),
        ({"message_type": "m" * 65}, "message_type", "too_long"),
        ({"reply_to": "r" * 129}, "reply_to", "too_long"),
    ],
)
async def test_bad_message_frames_are_refused_and_change_nothing(frame, field, error):
    alpha = await online("alpha")
    before = await state()
    reply = await ask(alpha, {"type": "message", **frame})
    assert reply["type"] == "error" and reply["error"] == "validation_failed"
    assert reply["message_type"] == "message"
    assert reply["errors"][0]["field"] == field and reply["errors"][0]["error"] == error
    assert await state() == before
    assert (await ask(alpha, {"type": "ping"}))["type"] == "pong"
    await alpha.close()


async def test_an_oversized_frame_is_refused():
    alpha = await online("alpha")
    before = await state()
    await alpha.send({"type": "message", "payload": {"blob": "x" * (1024 * 1024)}})
    closed = await alpha.comm.receive_output(timeout=2)
    assert closed["type"] == "websocket.close" and closed["code"] == 4009
    assert await state() == before
    await alpha.close()


async def test_messages_need_an_identified_socket():
    sock = await Socket().open()
    reply = await ask(sock, {"type": "message", "to": "beta", "payload": {}})
    assert reply["error"] == "not_identified"
    assert await state() == ([], [], [])
    await sock.close()


async def test_a_push_that_cannot_be_sent_goes_to_the_mailbox(monkeypatch):
    alpha, beta = await online("alpha"), await online("beta")
    layer = get_channel_layer()
    beta_socket = (await db(Agent.objects.get)(agent_id="beta")).channel_name
    real_send = layer.send

    async def full_for_beta(channel, message):
        if channel == beta_socket:
            raise ChannelFull()
        return await real_send(channel, message)

    monkeypatch.setattr(layer, "send", full_for_beta)
    reply = await ask(alpha, {"type": "message", "to": "beta", "payload": {"n": 1}})
    assert await mailbox_of("beta") == [(reply["id"], "alpha", {"n": 1})]
    assert await quiet(beta)
    monkeypatch.undo()
    await alpha.close()
    await beta.close()
