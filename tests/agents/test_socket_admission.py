"""Unidentified sockets are bounded per client address and in all; identified ones are not."""

import pytest
from channels.testing import WebsocketCommunicator

from agentcom_site.asgi import application
from agents import connections, services, tokens
from tests.sockets import Socket, db

pytestmark = pytest.mark.django_db(transaction=True)


_opened: list[WebsocketCommunicator] = []


@pytest.fixture(autouse=True)
async def close_every_socket():
    yield
    while _opened:
        await _opened.pop().disconnect()
    assert connections.unidentified_count() == 0


def from_address(address: str) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(application, "/ws")
    comm.scope["client"] = (address, 50000)  # read when the application first runs
    _opened.append(comm)
    return comm


async def handshake(comm: WebsocketCommunicator) -> dict:
    await comm.send_input({"type": "websocket.connect"})
    return await comm.receive_output(timeout=2)


@db
def new_token(agent_id: str) -> str:
    agent, _ = services.ensure_agent(agent_id)
    return tokens.issue_agent_token(agent)[1]


async def test_past_the_per_address_cap_the_upgrade_is_refused_with_429(settings):
    settings.AGENTCOM_MAX_UNIDENTIFIED_PER_ADDRESS = 2
    token = await new_token("gcu")
    first, second = from_address("10.0.0.1"), from_address("10.0.0.1")
    for comm in (first, second):
        assert (await handshake(comm))["type"] == "websocket.accept"

    refused = await handshake(from_address("10.0.0.1"))
    assert refused == {
        "type": "websocket.http.response.start",
        "status": 429,
        "headers": [(b"content-type", b"application/json")],
    }
    assert (await handshake(from_address("10.0.0.2")))["type"] == "websocket.accept"

    # An identified socket no longer counts: the address may open another.
    await first.send_json_to({"type": "identify", "agent_id": "gcu", "token": token})
    assert (await first.receive_json_from())["type"] == "identified"
    assert (await handshake(from_address("10.0.0.1")))["type"] == "websocket.accept"


async def test_past_the_global_cap_the_upgrade_is_refused_with_503(settings):
    settings.AGENTCOM_MAX_UNIDENTIFIED = 3
    opened = [from_address(f"10.0.1.{i}") for i in range(3)]
    for comm in opened:
        assert (await handshake(comm))["type"] == "websocket.accept"
    late = from_address("10.0.1.99")
    assert (await handshake(late))["status"] == 503
    body = await late.receive_output(timeout=2)
    assert b'"error": "hub_full"' in body["body"]
    await opened[0].disconnect()  # a closed socket frees its place
    _opened.remove(opened[0])
    assert (await handshake(from_address("10.0.1.99")))["type"] == "websocket.accept"
    assert connections.unidentified_count() == 3


async def test_the_default_global_cap_is_half_the_open_files_limit(settings):
    import resource

    settings.AGENTCOM_MAX_UNIDENTIFIED = 0
    assert connections.unidentified_cap() == resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 2


async def test_an_unidentified_socket_is_closed_after_the_identify_timeout(settings):
    settings.AGENTCOM_IDENTIFY_TIMEOUT_S = 10
    sock = await Socket().open()
    consumer = next(c for c in connections._open if c.agent is None)
    assert await connections.close_silent(consumer.opened_at + 9) == 0
    assert await connections.close_silent(consumer.opened_at + 11) == 1
    closed = await sock.comm.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": 4001, "reason": "identify timeout"}
    await sock.close()
    assert connections.unidentified_count() == 0


async def test_a_stopping_process_refuses_new_sockets_with_503():
    opened = from_address("10.0.2.1")
    assert (await handshake(opened))["type"] == "websocket.accept"
    connections.stop_admitting()
    try:
        late = from_address("10.0.2.2")
        assert (await handshake(late))["status"] == 503
        body = await late.receive_output(timeout=2)
        assert b'"error": "shutting_down"' in body["body"]
    finally:
        connections.resume_admitting()
    assert (await handshake(from_address("10.0.2.2")))["type"] == "websocket.accept"
