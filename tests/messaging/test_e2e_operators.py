"""A real hub and real WebSocket agents: what an operator sends over HTTP reaches the
agents with the operator as `from`, and an agent's answer to the operator is kept."""

import pytest

from tests.e2e.harness import AgentClient

pytestmark = pytest.mark.e2e


async def test_agents_receive_an_operators_post_and_message_and_can_answer(backend, start_hub):
    hub = start_hub()
    tokens = backend.create_agents(["alpha", "beta"])
    ops = backend.operator_token("kim")
    alpha = await AgentClient(hub, "alpha", tokens["alpha"]).connect(presence=False)
    beta = await AgentClient(hub, "beta", tokens["beta"]).connect(presence=False)
    status, _ = await hub.ahttp("POST", "/api/channels", {"name": "ops-room"}, ops)
    assert status == 201
    for agent in (alpha, beta):
        await agent.ask({"type": "channel_subscribe", "channel": "ops-room"}, "channel_subscribed")

    status, published = await hub.ahttp(
        "POST", "/api/channels/ops-room/publish", {"payload": {"text": "freeze at 5"}}, ops
    )
    assert status == 200
    for agent in (alpha, beta):  # the operator is no subscriber: nobody is left out
        push = await agent.recv_type("channel_message")
        assert (push["id"], push["from"], push["channel"]) == (
            published["id"],
            "operator:kim",
            "ops-room",
        )
        assert push["payload"] == {"text": "freeze at 5"}

    status, sent = await hub.ahttp(
        "POST", "/api/message", {"to": "alpha", "payload": {"text": "status?"}}, ops
    )
    assert status == 200
    push = await alpha.recv_type("message")
    assert (push["id"], push["from"], push["payload"]) == (
        sent["id"],
        "operator:kim",
        {"text": "status?"},
    )

    answer = await alpha.ask(
        {
            "type": "message",
            "to": push["from"],
            "payload": {"text": "green"},
            "reply_to": push["id"],
        },
        "message_sent",
    )
    status, history = await hub.ahttp("GET", "/api/messages", token=ops)
    assert status == 200
    kept = {m["id"]: (m["from"], m["to"], m["reply_to"]) for m in history["messages"]}
    assert kept[answer["id"]] == ("alpha", "operator:kim", sent["id"])
    # beta got nothing of the direct exchange
    await beta.ask({"type": "ping"}, "pong")
    assert not [f for f in beta.frames if f["type"] == "message"]
