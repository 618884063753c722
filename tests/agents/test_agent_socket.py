"""The agent socket: handshake, frame checks and errors, with the database asserted after each."""

import json

import pytest
from channels.layers import get_channel_layer

from agents import services, tokens
from agents.models import Agent
from tasks.models import Task, TaskEvent
from tests.sockets import Socket, agent_socket, db

pytestmark = pytest.mark.django_db(transaction=True)


@db
def new_agent(agent_id: str = "gcu", capabilities=()) -> tuple[Agent, str]:
    agent, _ = services.ensure_agent(agent_id, capabilities=list(capabilities))
    return agent, tokens.issue_agent_token(agent)[1]


@db
def snapshot() -> tuple:
    return (
        list(Agent.objects.order_by("pk").values_list("agent_id", "state", "status_text")),
        list(Task.objects.order_by("pk").values_list("id", "status", "generation")),
        TaskEvent.objects.count(),
    )


async def test_ping_is_answered_even_before_identify():
    sock = await Socket().open()
    pong = await sock.ask({"type": "ping"})
    assert pong["type"] == "pong" and isinstance(pong["timestamp"], int)
    await sock.close()


async def test_identify_binds_the_agent_idle_with_its_capabilities():
    _, token = await new_agent()
    sock = await agent_socket(
        "gcu",
        token,
        name="Sleeper",
        capabilities=["code", {"name": "python"}, "code"],
        protocol_version=1,
        client_type="sidecar",
    )
    agent = await db(Agent.objects.get)(agent_id="gcu")
    assert agent.state == "idle" and agent.capabilities == ["code", "python"]
    assert agent.name == "Sleeper" and agent.status_text == "connected" and agent.channel_name
    await sock.close()
    agent = await db(Agent.objects.get)(agent_id="gcu")
    assert agent.state == "offline" and agent.channel_name == ""


@pytest.mark.parametrize(
    ("frame", "error", "field"),
    [
        ("{nope", "invalid_json", None),
        ("[1,2]", "validation_failed", "type"),
        ('{"no_type": 1}', "validation_failed", "type"),
        ('{"type": 5}', "validation_failed", "type"),
        ({"type": "task_accepted", "task_id": "task-1"}, "not_identified", None),
        ({"type": "identify", "token": "x"}, "validation_failed", "agent_id"),
        ({"type": "identify", "agent_id": "gcu", "token": 7}, "validation_failed", "token"),
        (
            {"type": "identify", "agent_id": "x" * 129, "token": "t"},
            "validation_failed",
            "agent_id",
        ),
        ({"type": "identify", "agent_id": "gcu", "token": "0" * 64}, "invalid_token", None),
    ],
)
async def test_bad_frames_before_identify_are_answered_and_change_nothing(frame, error, field):
    await new_agent()
    before = await snapshot()
    sock = await Socket().open()
    reply = await sock.ask(frame)
    assert reply["type"] == "error" and reply["error"] == error and reply["detail"]
    if field is not None:
        assert reply["errors"][0]["field"] == field
    assert await snapshot() == before
    assert (await sock.ask({"type": "ping"}))["type"] == "pong"  # still open
    await sock.close()


async def test_binary_and_oversized_frames():
    _, token = await new_agent()
    sock = await agent_socket("gcu", token)
    await sock.comm.send_to(bytes_data=b"\x00\x01")
    assert (await sock.recv())["error"] == "invalid_json"
    assert (await sock.ask({"type": "ping"}))["type"] == "pong"
    await sock.send(json.dumps({"type": "status", "status": "x" * (1024 * 1024 + 1)}))
    closed = await sock.comm.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": 4009, "reason": "frame too large"}
    await sock.close()
    assert (await db(Agent.objects.get)(agent_id="gcu")).state == "offline"


async def test_wrong_token_then_retry_on_the_same_socket():
    _, token = await new_agent("gcu")
    _, other_token = await new_agent("other")
    sock = await Socket().open()
    reply = await sock.ask({"type": "identify", "agent_id": "gcu", "token": other_token})
    assert reply["error"] == "token_agent_mismatch"
    assert (await snapshot())[0][0][1] == "offline"
    assert (await sock.identify("gcu", token))["agent_id"] == "gcu"
    await sock.close()


async def test_revoked_and_operator_tokens_are_invalid():
    _, token = await new_agent()
    operator = (await db(tokens.issue_operator_token)("ops"))[1]
    await db(tokens.revoke_agent_tokens)("gcu")
    sock = await Socket().open()
    for bad in (token, operator):
        reply = await sock.ask({"type": "identify", "agent_id": "gcu", "token": bad})
        assert reply["error"] == "invalid_token"
    await sock.close()


async def test_identified_socket_errors_unknown_type_and_already_identified():
    _, token = await new_agent("gcu")
    _, other = await new_agent("other")
    sock = await agent_socket("gcu", token)
    reply = await sock.ask({"type": "teleport"})
    assert reply["error"] == "unknown_message_type"
    reply = await sock.ask({"type": "identify", "agent_id": "other", "token": other})
    assert reply["error"] == "already_identified"
    again = await sock.ask(
        {"type": "identify", "agent_id": "gcu", "token": token, "status": "busy"}
    )
    assert again == {"type": "identified", "agent_id": "gcu"}
    assert (await db(Agent.objects.get)(agent_id="gcu")).status_text == "busy"
    await sock.close()


async def test_ten_validation_errors_close_with_4008_and_the_agent_goes_offline(ops):
    _, token = await new_agent()
    sock = await agent_socket("gcu", token)
    for _ in range(9):
        assert (await sock.ask({"type": "status"}))["error"] == "validation_failed"
    await sock.send({"type": "status"})
    assert (await sock.recv())["error"] == "validation_failed"
    closed = await sock.comm.receive_output(timeout=2)
    # 1008 cannot be sent by the server (autobahn allows 1000 and 3000-4999 only).
    assert closed == {
        "type": "websocket.close",
        "code": 4008,
        "reason": "too many validation errors",
    }
    await sock.close()
    status, body = await db(ops.get)("/api/agents")
    assert status == 200 and body["agents"] == []


async def test_a_failing_handler_answers_internal_error_and_the_socket_lives_on(
    monkeypatch, caplog
):
    from agentcom_site.core import frames

    async def broken(consumer, frame):
        raise RuntimeError("boom")

    monkeypatch.setitem(frames.frame_handlers(), "status", broken)
    _, token = await new_agent()
    sock = await agent_socket("gcu", token)
    reply = await sock.ask({"type": "status", "status": "x", "token": "secret-in-frame"})
    assert reply["type"] == "error" and reply["error"] == "internal_error"
    assert (await sock.ask({"type": "ping"}))["type"] == "pong"
    assert "'status' frame failed" in caplog.text and "RuntimeError: boom" in caplog.text
    assert "secret-in-frame" not in caplog.text and token not in caplog.text
    await sock.close()
    assert (await db(Agent.objects.get)(agent_id="gcu")).state == "offline"


async def test_the_agent_goes_offline_even_when_a_cleanup_step_fails(monkeypatch):
    from agents import consumers

    async def broken_hook(consumer):
        raise RuntimeError("hook failed")

    _, token = await new_agent()
    sock = await agent_socket("gcu", token)
    monkeypatch.setattr(consumers, "run_disconnect_hooks", broken_hook)
    layer = get_channel_layer()
    layer_discard = layer.group_discard

    async def failing_discard(group, channel):
        await layer_discard(group, channel)
        raise ConnectionError("layer down")

    monkeypatch.setattr(layer, "group_discard", failing_discard)
    await sock.close()
    assert (await db(Agent.objects.get)(agent_id="gcu")).state == "offline"


async def test_latest_connection_wins_and_the_old_socket_closes_4000():
    _, token = await new_agent()
    first = await agent_socket("gcu", token)
    second = await agent_socket("gcu", token)
    closed = await first.comm.receive_output(timeout=2)
    assert closed["type"] == "websocket.close" and closed["code"] == 4000
    await first.close()  # the old socket's disconnect must not take the agent offline
    agent = await db(Agent.objects.get)(agent_id="gcu")
    assert agent.state == "idle" and agent.channel_name
    assert (await second.ask({"type": "ping"}))["type"] == "pong"
    await second.close()


async def test_presence_pushes_to_other_agents():
    _, token_a = await new_agent("a")
    _, token_b = await new_agent("b")
    a = await agent_socket("a", token_a)
    b = await agent_socket("b", token_b)
    joined = await a.recv()
    assert joined["type"] == "agent_joined" and joined["agent"]["agent_id"] == "b"
    reply = await b.ask({"type": "status", "status": "thinking"})
    assert reply == {"type": "status_updated", "status": "thinking"}
    changed = await b.recv()
    assert changed["type"] == "status_changed" and changed["agent"]["status"] == "thinking"
    assert (await a.recv())["type"] == "status_changed"
    listed = await a.ask({"type": "list_agents"})
    assert sorted(x["agent_id"] for x in listed["agents"]) == ["a", "b"]
    await b.close()
    assert await a.recv() == {"type": "agent_left", "agent_id": "b"}
    await a.close()


async def test_presence_false_opts_the_socket_out_of_presence_pushes():
    _, token_quiet = await new_agent("quiet")
    _, token_a = await new_agent("a")
    _, token_b = await new_agent("b")
    quiet = await agent_socket("quiet", token_quiet, presence=False)
    listener = await agent_socket("a", token_a)
    assert (await quiet.ask({"type": "ping"}))["type"] == "pong"  # not agent_joined of a
    b = await agent_socket("b", token_b)
    assert (await listener.recv())["agent"]["agent_id"] == "b"
    # The group push reached every member before the listener saw it, so an
    # agent_joined queued for the quiet socket would come before this pong.
    assert (await quiet.ask({"type": "ping"}))["type"] == "pong"
    await quiet.ask({"type": "status", "status": "thinking"})
    assert (await listener.recv())["type"] == "status_changed"
    assert (await quiet.ask({"type": "ping"}))["type"] == "pong"  # not its own status_changed

    # Identifying again on the same socket may change the choice.
    assert (await quiet.identify("quiet", token_quiet, presence=True))["type"] == "identified"
    await b.close()
    assert await listener.recv() == {"type": "agent_left", "agent_id": "b"}
    assert await quiet.recv() == {"type": "agent_left", "agent_id": "b"}
    await quiet.close()
    await listener.close()


async def test_presence_must_be_a_boolean():
    _, token = await new_agent()
    sock = await Socket().open()
    reply = await sock.ask(
        {"type": "identify", "agent_id": "gcu", "token": token, "presence": "no"}
    )
    assert reply["error"] == "validation_failed" and reply["errors"][0]["field"] == "presence"
    assert (await db(Agent.objects.get)(agent_id="gcu")).state == "offline"
    await sock.close()


async def test_frames_do_not_detour_through_the_database_thread(monkeypatch):
    import channels.consumer

    detours = []

    async def counted():
        detours.append(1)

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    sock = await Socket().open()
    for _ in range(3):
        assert (await sock.ask({"type": "ping"}))["type"] == "pong"
    await sock.close()
    assert detours == []


async def test_an_identify_that_fails_after_binding_closes_the_socket_and_leaves_no_ghost(
    monkeypatch, caplog
):
    """Seen in a chaos run: Redis went away between binding the agent and answering, so
    the client waited for `identified` on a socket the hub counted as live, forever."""
    from agents import frames

    async def broken_hook(consumer):
        raise ConnectionError("the channel layer is down")

    monkeypatch.setattr(frames, "run_identified_hooks", broken_hook)
    _, token = await new_agent()
    sock = await Socket().open()
    await sock.send({"type": "identify", "agent_id": "gcu", "token": token})
    closed = await sock.comm.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": 4010, "reason": "identify failed"}
    await sock.close()  # the server's disconnect, as daphne delivers it after a close
    assert "identify failed after the agent was bound" in caplog.text
    assert token not in caplog.text
    agent = await db(Agent.objects.get)(agent_id="gcu")
    assert agent.state == "offline" and agent.channel_name in ("", None)
