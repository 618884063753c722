"""A token revoked at any moment, even while an identify is in flight, never stays bound
to a live socket: the identify is refused, or the socket is closed with 4003 at once."""

import asyncio
import threading

import pytest
from channels.testing import WebsocketCommunicator

from agentcom_site.asgi import application
from agentcom_site.core import transport
from agents import presence, services, tokens
from agents.models import Agent
from tests.sockets import db

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 60
# When the revoke runs, by round: racing the identify's steps on the database thread,
# as a DELETE /admin/tokens request does in a hub process (each round lets the identify
# run a different time first); committed from another thread between the
# identify's token check and the bind (the window a check-then-bind leaves open); or
# after the socket is bound.
MOMENTS = ("free", "between_check_and_bind", "after_identified")


@pytest.fixture
async def outbox():
    """The hub's hand-over to the loop, so a revoke from another thread can push a close."""
    transport.attach_outbox()
    yield
    transport.detach_outbox()


def revoke_in_a_thread(agent_id: str) -> None:
    """A revoke on its own thread and database connection, as another request would run."""
    worker = threading.Thread(target=tokens.revoke_agent_tokens, args=(agent_id,))
    worker.start()
    worker.join()


@pytest.fixture
def revoke_before_bind(monkeypatch):
    """Runs a revoke (on a real second thread) just before identify binds the socket."""
    pending: set[str] = set()
    bind = presence.identify

    def identify_after_a_revoke(agent_pk, **kwargs):
        agent_id = Agent.objects.get(pk=agent_pk).agent_id
        if agent_id in pending:
            pending.discard(agent_id)
            revoke_in_a_thread(agent_id)
        return bind(agent_pk, **kwargs)

    monkeypatch.setattr(presence, "identify", identify_after_a_revoke)
    return pending


@db
def new_agent(agent_id: str) -> str:
    agent, _ = services.ensure_agent(agent_id, capabilities=[])
    return tokens.issue_agent_token(agent)[1]


async def revoke_after(agent_id: str, delay_s: float) -> None:
    # Jitter, not synchronisation: each round lets the identify get a different distance
    # through its hops before the revoke queues behind them; any order must be safe.
    await asyncio.sleep(delay_s)
    await db(tokens.revoke_agent_tokens)(agent_id)


@db
def bound_channel(agent_id: str) -> str:
    return Agent.objects.get(agent_id=agent_id).channel_name


async def outcome(comm: WebsocketCommunicator) -> str:
    """What became of the socket within a second: `refused`, `closed` (4003) or `bound`."""
    identified = False
    while True:
        try:
            message = await comm.receive_output(timeout=1)
        except TimeoutError:
            return "bound" if identified else "silent"
        if message["type"] == "websocket.close":
            assert message["code"] == 4003, message
            return "closed"
        frame = message.get("text", "")
        if '"invalid_token"' in frame:
            return "refused"
        identified = identified or '"identified"' in frame


async def test_identify_and_revoke_in_any_order_leave_no_survivor(outbox, revoke_before_bind):
    outcomes: dict[str, set[str]] = {moment: set() for moment in MOMENTS}
    for round_no in range(ROUNDS):
        moment = MOMENTS[round_no % len(MOMENTS)]
        agent_id = f"racer-{round_no}"
        token = await new_agent(agent_id)
        comm = WebsocketCommunicator(application, "/ws")
        assert (await comm.connect())[0]
        identify = {"type": "identify", "agent_id": agent_id, "token": token, "presence": False}
        if moment == "between_check_and_bind":
            revoke_before_bind.add(agent_id)
        if moment == "free":
            await asyncio.gather(
                comm.send_json_to(identify), revoke_after(agent_id, round_no % 20 * 0.0004)
            )
        else:
            await comm.send_json_to(identify)
        if moment == "after_identified":
            assert (await comm.receive_json_from())["type"] == "identified"
            await asyncio.to_thread(tokens.revoke_agent_tokens, agent_id)
        result = await outcome(comm)
        outcomes[moment].add(result)
        assert result in ("refused", "closed"), (round_no, moment, result)
        if result == "refused":  # refused: nothing was bound for this socket
            assert await bound_channel(agent_id) == ""
        await comm.disconnect()
    assert outcomes["between_check_and_bind"] == {"refused"}
    assert outcomes["after_identified"] == {"closed"}
