"""Liveness (PROTOCOL.md §2.5): silent sockets are closed, heard agents get `last_seen`."""

from datetime import timedelta

import pytest

from agentcom_site import background
from agentcom_site.core.clock import now
from agents import connections, services, tokens
from agents.models import Agent
from tests.sockets import Socket, agent_socket, db

pytestmark = pytest.mark.django_db(transaction=True)

TTL = 60.0


@pytest.fixture(autouse=True)
def timers(settings):
    settings.AGENTCOM_PING_TTL_S = TTL
    settings.AGENTCOM_IDENTIFY_TIMEOUT_S = 10
    connections.take_heard()  # nothing left over from an earlier test
    yield
    connections.take_heard()


@db
def new_token(agent_id: str) -> str:
    agent, _ = services.ensure_agent(agent_id)
    return tokens.issue_agent_token(agent)[1]


async def identified(agent_id: str) -> tuple[Socket, object]:
    sock = await agent_socket(agent_id, await new_token(agent_id), presence=False)
    consumer = next(c for c in connections._open if c.agent and c.agent.agent_id == agent_id)
    return sock, consumer


@db
def agent_pk(agent_id: str) -> int:
    return Agent.objects.get(agent_id=agent_id).pk


async def test_a_silent_socket_is_closed_4002_and_one_heard_from_since_is_kept():
    silent, _ = await identified("silent")
    chatty, chatty_consumer = await identified("chatty")
    assert (await chatty.ask({"type": "ping"}))["type"] == "pong"
    moment = chatty_consumer.last_frame_at + TTL  # past the silent one's deadline only

    assert await connections.close_silent(moment) == 1
    assert await silent.comm.receive_output(timeout=2) == {
        "type": "websocket.close",
        "code": 4002,
        "reason": "ping timeout",
    }
    assert await chatty.nothing()
    # The kept socket went back in at its new deadline, and is closed once that passes.
    assert await connections.close_silent(moment + 0.001) == 1
    assert (await chatty.comm.receive_output(timeout=2))["code"] == 4002
    await silent.close()
    await chatty.close()


async def test_an_identified_socket_is_held_to_the_ping_ttl_not_the_identify_timeout(settings):
    sock, consumer = await identified("gcu")
    assert await connections.close_silent(consumer.opened_at + 11) == 0
    assert await sock.nothing()
    await sock.close()

    settings.AGENTCOM_PING_TTL_S = 1  # shorter than the identify timeout
    sock, consumer = await identified("gcu")
    assert await connections.close_silent(consumer.last_frame_at + 2) == 1
    assert (await sock.comm.receive_output(timeout=2))["code"] == 4002
    await sock.close()


async def test_a_socket_already_closing_or_gone_is_not_closed_again():
    closing, closing_consumer = await identified("closing")
    gone, _ = await identified("gone")
    closing_consumer.closing = True
    await gone.close()

    assert await connections.close_silent(closing_consumer.last_frame_at + 2 * TTL) == 0
    await closing.close()


async def test_frames_name_their_agent_once_for_last_seen_until_taken():
    sock, _ = await identified("gcu")
    assert connections.take_heard() == [await agent_pk("gcu")]  # identify is a frame too
    unidentified = await Socket().open()
    await sock.ask({"type": "ping"})
    await sock.ask({"type": "ping"})
    await unidentified.ask({"type": "ping"})

    assert connections.take_heard() == [await agent_pk("gcu")]
    assert connections.take_heard() == []
    await sock.ask({"type": "ping"})
    await sock.close()  # gone: its agent is offline, not seen
    assert connections.take_heard() == []
    await unidentified.close()


@db
def set_last_seen(agent_id: str, moment) -> None:
    Agent.objects.filter(agent_id=agent_id).update(last_seen=moment)


@db
def last_seen(agent_id: str):
    return Agent.objects.get(agent_id=agent_id).last_seen


async def test_a_liveness_round_writes_last_seen_of_the_agents_heard_from(monkeypatch):
    monkeypatch.setattr(background, "TOUCH_BATCH", 1)  # two statements for two agents
    sockets = [(await identified(name))[0] for name in ("a", "b", "quiet")]
    connections.take_heard()  # identify stamped them all
    long_ago = now() - timedelta(hours=1)
    for name in ("a", "b", "quiet"):
        await set_last_seen(name, long_ago)
    for sock in sockets[:2]:
        await sock.ask({"type": "ping"})

    await background.check_liveness()
    assert await last_seen("a") > long_ago and await last_seen("b") > long_ago
    assert await last_seen("quiet") == long_ago
    for sock in sockets:
        assert await sock.nothing(0.05)  # nobody was closed
        await sock.close()
