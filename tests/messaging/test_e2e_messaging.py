"""A real hub process and real WebSocket agents: routing, mailboxes, channels, threads,
analytics and retention, observed only through the wire."""

import asyncio
import itertools

import pytest

from tests.e2e.agents import wait_until
from tests.e2e.harness import SCALED, AgentClient

pytestmark = pytest.mark.e2e

_markers = itertools.count()


async def until_marker(sender: AgentClient, receiver: AgentClient) -> list[dict]:
    """Send `receiver` a marker message and return every frame it got before the marker.

    Pushes to one socket arrive in order, so anything that was going to reach it before
    the marker has arrived by then: no sleeping to prove that nothing else came.
    """
    marker = f"m{next(_markers)}"
    await sender.send({"type": "message", "to": receiver.agent_id, "payload": {"marker": marker}})
    before = []
    while True:
        frame = await receiver.recv()
        if frame["type"] == "message" and frame["payload"].get("marker") == marker:
            return before
        before.append(frame)


def pushes(frames: list[dict], kind: str = "message") -> list[dict]:
    """The pushes of `kind` among `frames`, markers left out."""
    return [f for f in frames if f["type"] == kind and "marker" not in f.get("payload", {})]


async def test_direct_broadcast_mailbox_threads_and_analytics(backend, start_hub):
    hub = start_hub()
    tokens = backend.create_agents(["alpha", "beta", "gamma"])
    gamma_second_token = backend.create_agent("gamma")  # two live tokens, one mailbox
    alpha = await AgentClient(hub, "alpha", tokens["alpha"]).connect()
    beta = await AgentClient(hub, "beta", tokens["beta"]).connect()

    # Direct to an online agent: pushed.
    sent = await alpha.ask(
        {"type": "message", "to": "beta", "payload": {"q": "ready?"}}, "message_sent"
    )
    push = await beta.recv_type("message")
    assert push["id"] == sent["id"] and push["from"] == "alpha"
    assert push["payload"] == {"q": "ready?"} and push["message_type"] == "chat"

    # A reply over HTTP joins the thread.
    status, reply = await hub.ahttp(
        "POST",
        "/api/message",
        {"to": "alpha", "payload": {"a": "yes"}, "reply_to": sent["id"]},
        tokens["beta"],
    )
    assert status == 200 and (await alpha.recv_type("message"))["reply_to"] == sent["id"]
    status, thread = await hub.ahttp("GET", f"/api/threads/{reply['id']}", token=tokens["alpha"])
    assert status == 200 and thread["root"] == sent["id"]
    assert [m["id"] for m in thread["messages"]] == [sent["id"], reply["id"]]
    root = (await hub.ahttp("GET", f"/api/threads/{reply['id']}/root?token={tokens['alpha']}"))[1]
    assert root == {"message_id": reply["id"], "root": sent["id"]}

    # Offline: mailboxed; poll with the legacy ?token=, ack, poll again.
    first = await alpha.ask({"type": "message", "to": "gamma", "payload": {"n": 1}}, "message_sent")
    status, box = await hub.ahttp("GET", f"/api/mailbox/gamma?token={tokens['gamma']}")
    assert status == 200 and [m["id"] for m in box["messages"]] == [first["id"]]
    status, acked = await hub.ahttp(
        "POST", "/api/mailbox/gamma/ack", {"seq": box["last_seq"]}, gamma_second_token
    )
    assert (status, acked) == (200, {"status": "acked", "up_to": box["last_seq"]})
    second = await alpha.ask(
        {"type": "message", "to": "gamma", "payload": {"n": 2}}, "message_sent"
    )
    box = (await hub.ahttp("GET", "/api/mailbox/gamma", token=gamma_second_token))[1]
    assert [m["id"] for m in box["messages"]] == [second["id"]]
    assert box["messages"][0]["seq"] > acked["up_to"]
    status, refused = await hub.ahttp("GET", "/api/mailbox/gamma", token=tokens["beta"])
    assert (status, refused["error"]) == (403, "forbidden")

    # Broadcast: every online agent once (sender included), gamma's mailbox once.
    sent = await alpha.ask({"type": "message", "payload": {"all": True}}, "message_sent")
    await until_marker(beta, alpha)
    await until_marker(alpha, beta)
    for client in (alpha, beta):
        assert [p["id"] for p in pushes(client.frames) if p["id"] == sent["id"]] == [sent["id"]]
    box = (await hub.ahttp("GET", "/api/mailbox/gamma", token=tokens["gamma"]))[1]
    assert [m["id"] for m in box["messages"]] == [second["id"], sent["id"]]
    for owner in ("alpha", "beta"):
        own = (await hub.ahttp("GET", f"/api/mailbox/{owner}", token=tokens[owner]))[1]
        assert own["count"] == 0

    # Analytics follow the traffic: alpha sent 4 + 1 marker, beta 1 reply + 1 marker.
    figures = (await hub.ahttp("GET", "/api/analytics/agents", token=tokens["alpha"]))[1]
    by_id = {f["agent_id"]: f for f in figures["agents"]}
    assert by_id["alpha"]["messages_sent_24h"] == 5
    assert by_id["beta"]["messages_sent_24h"] == 2
    assert by_id["gamma"]["messages_received_24h"] == 3
    assert by_id["alpha"]["status"] == "active" and by_id["gamma"]["status"] == "offline"
    assert by_id["alpha"]["total_connections"] == 1
    hourly = (await hub.ahttp("GET", "/api/analytics/agents/alpha/hourly", token=tokens["alpha"]))[
        1
    ]
    assert len(hourly["hourly"]) == 24 and hourly["hourly"][-1]["sent"] == 5
    summary = (await hub.ahttp("GET", "/api/analytics/summary", token=tokens["alpha"]))[1]
    assert summary["total_messages_24h"] == 7 and summary["agents_connected"] == 2

    await beta.close()
    await wait_until(
        lambda: _figure(hub, tokens["alpha"], "beta", "connected") is False, timeout=10
    )
    beta_figure = _figure(hub, tokens["alpha"], "beta")
    assert beta_figure["connection_time_24h_ms"] > 0
    await alpha.close()


def _figure(hub, token: str, agent_id: str, key: str | None = None):
    figures = hub.http("GET", "/api/analytics/agents", token=token)[1]["agents"]
    figure = next(f for f in figures if f["agent_id"] == agent_id)
    return figure if key is None else figure[key]


async def test_channels_live_pushes_history_and_http_subscribe(backend, start_hub):
    hub = start_hub()
    tokens = backend.create_agents(["alpha", "beta", "gamma"])
    alpha = await AgentClient(hub, "alpha", tokens["alpha"]).connect()
    beta = await AgentClient(hub, "beta", tokens["beta"]).connect()

    status, created = await hub.ahttp("POST", "/api/channels", {"name": "#Dev"}, tokens["alpha"])
    assert (status, created) == (201, {"status": "created", "channel": "#Dev"})
    subscribed = await alpha.ask(
        {"type": "channel_subscribe", "channel": "#Dev"}, "channel_subscribed"
    )
    assert subscribed == {"type": "channel_subscribed", "channel": "#Dev"}

    # beta subscribes over HTTP while connected: its socket takes pushes at once.
    status, body = await hub.ahttp("POST", "/api/channels/dev/subscribe", None, tokens["beta"])
    assert (status, body) == (200, {"status": "subscribed", "channel": "dev"})
    joined = await alpha.recv_type("channel_agent_joined")
    assert joined == {"type": "channel_agent_joined", "channel": "dev", "agent_id": "beta"}
    # gamma subscribes while offline: it gets mailbox copies.
    await hub.ahttp("POST", "/api/channels/dev/subscribe", None, tokens["gamma"])

    published = await alpha.ask(
        {"type": "channel_publish", "channel": "DEV", "payload": {"build": "green"}},
        "channel_published",
    )
    assert published["channel"] == "DEV" and published["seq"] == 1
    push = await beta.recv_type("channel_message")
    assert push["channel"] == "dev" and push["id"] == published["id"]
    assert push["payload"] == {"build": "green"} and push["from"] == "alpha"
    await until_marker(beta, alpha)
    assert pushes(alpha.frames, "channel_message") == []  # not to the publisher

    status, second = await hub.ahttp(
        "POST", "/api/channels/dev/publish", {"payload": {"build": "red"}}, tokens["beta"]
    )
    assert status == 200 and second["seq"] == 2
    assert (await alpha.recv_type("channel_message"))["payload"] == {"build": "red"}

    history = await alpha.ask(
        {"type": "channel_history", "channel": "dev", "limit": 1}, "channel_history"
    )
    assert [e["seq"] for e in history["messages"]] == [2]
    status, history = await hub.ahttp("GET", "/api/channels/dev/history", token=tokens["gamma"])
    assert status == 200 and [e["message"]["id"] for e in history["messages"]] == [
        published["id"],
        second["id"],
    ]
    box = (await hub.ahttp("GET", "/api/mailbox/gamma", token=tokens["gamma"]))[1]
    assert [m["payload"] for m in box["messages"]] == [
        {"build": "green", "channel": "dev"},
        {"build": "red", "channel": "dev"},
    ]
    listed = (await hub.ahttp("GET", "/api/messages", token=tokens["gamma"]))[1]
    assert published["id"] not in [m["id"] for m in listed["messages"]]
    assert (await hub.ahttp("GET", "/api/channels/nowhere", token=tokens["alpha"]))[0] == 404

    # After unsubscribing over HTTP the live socket stops getting pushes at once.
    await hub.ahttp("POST", "/api/channels/dev/unsubscribe", None, tokens["beta"])
    await alpha.ask(
        {"type": "channel_publish", "channel": "dev", "payload": {}}, "channel_published"
    )
    await until_marker(alpha, beta)
    assert [p["payload"] for p in pushes(beta.frames, "channel_message")] == [{"build": "green"}]
    await alpha.close()
    await beta.close()


async def test_the_sweep_enforces_mailbox_retention(backend, start_hub):
    hub = start_hub({"AGENTCOM_SWEEP_INTERVAL_S": "0.2", "AGENTCOM_MAILBOX_MAX_ENTRIES": "3"})
    tokens = backend.create_agents(["alpha", "gamma"])
    ops = backend.operator_token()
    alpha = await AgentClient(hub, "alpha", tokens["alpha"]).connect()
    ids = []
    for n in range(5):
        sent = await alpha.ask(
            {"type": "message", "to": "gamma", "payload": {"n": n}}, "message_sent"
        )
        ids.append(sent["id"])
    box = (await hub.ahttp("GET", "/api/mailbox/gamma", token=tokens["gamma"]))[1]
    assert [m["id"] for m in box["messages"]] == ids[2:]  # the cap keeps the newest three

    status, body = await hub.ahttp(
        "PUT", "/api/config/mailbox-retention", {"mailbox_ttl_ms": 1}, tokens["alpha"]
    )
    assert status == 403
    status, body = await hub.ahttp(
        "PUT", "/api/config/mailbox-retention", {"mailbox_ttl_ms": 1}, ops
    )
    assert (status, body) == (200, {"status": "updated", "mailbox_ttl_ms": 1})

    async def mailbox_empty() -> bool:
        answer = await hub.ahttp("GET", "/api/mailbox/gamma", token=tokens["gamma"])
        return answer[1]["count"] == 0

    await wait_until(mailbox_empty, timeout=10)  # no route touched it: the sweep did
    await alpha.close()


@pytest.mark.skipif(not SCALED, reason="needs Postgres + Redis (the scaled test run)")
async def test_two_hubs_route_crossing_traffic_without_loss(backend, start_hub):
    """Agents on different hub processes message each other at the same time: every
    message is pushed across processes once and counted once, and no transaction
    deadlocks on the shared traffic and mailbox rows."""
    hubs = [start_hub(no_scheduler=True), start_hub(no_scheduler=True)]
    tokens = backend.create_agents(["alpha", "beta", "gamma"])
    alpha = await AgentClient(hubs[0], "alpha", tokens["alpha"]).connect()
    beta = await AgentClient(hubs[1], "beta", tokens["beta"]).connect()
    rounds = 15

    async def burst(client: AgentClient, to: str) -> None:
        for n in range(rounds):
            await client.send({"type": "message", "to": to, "payload": {"n": n}})
            await client.send({"type": "message", "to": "gamma", "payload": {"n": n}})

    async def over_http(hub, sender: str, to: str) -> list[int]:
        answers = await asyncio.gather(
            *(
                hub.ahttp("POST", "/api/message", {"to": to, "payload": {}}, tokens[sender])
                for _ in range(rounds)
            )
        )
        return [status for status, _ in answers]

    statuses = await asyncio.gather(
        burst(alpha, "beta"),
        burst(beta, "alpha"),
        over_http(hubs[0], "alpha", "beta"),
        over_http(hubs[1], "beta", "alpha"),
    )
    assert statuses[2] == statuses[3] == [200] * rounds
    for client, peer in ((alpha, "beta"), (beta, "alpha")):
        got = [await client.recv_type("message") for _ in range(2 * rounds)]
        assert {m["from"] for m in got} == {peer}
        assert sum(1 for f in client.frames if f["type"] == "message_sent") == 2 * rounds
        assert not [f for f in client.frames if f["type"] == "error"]
    box = (await hubs[0].ahttp("GET", "/api/mailbox/gamma", token=tokens["gamma"]))[1]
    assert box["count"] == 2 * rounds
    figures = (await hubs[1].ahttp("GET", "/api/analytics/agents", token=tokens["gamma"]))[1]
    by_id = {f["agent_id"]: f for f in figures["agents"]}
    for agent_id in ("alpha", "beta"):
        assert by_id[agent_id]["messages_sent_24h"] == 3 * rounds
        assert by_id[agent_id]["messages_received_24h"] == 2 * rounds
    await alpha.close()
    await beta.close()
