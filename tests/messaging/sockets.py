"""Socket helpers for messaging consumer tests: agents, frames that are not presence pushes."""

from agents import services, tokens
from messaging.models import MailboxEntry
from tests.sockets import Socket, agent_socket, db

PRESENCE = ("agent_joined", "agent_left", "status_changed")


@db
def new_agent(agent_id: str, token_count: int = 1) -> str:
    """Create an agent with `token_count` live tokens; returns the last token."""
    agent, _ = services.ensure_agent(agent_id)
    return [tokens.issue_agent_token(agent)[1] for _ in range(token_count)][-1]


async def online(agent_id: str) -> Socket:
    return await agent_socket(agent_id, await new_agent(agent_id))


async def frames(sock: Socket, count: int) -> list[dict]:
    """The next `count` frames that are not presence pushes."""
    found = []
    while len(found) < count:
        frame = await sock.recv()
        if frame["type"] not in PRESENCE:
            found.append(frame)
    return found


async def ask(sock: Socket, frame: dict) -> dict:
    """Send a frame; the next frame that is not a presence push."""
    await sock.send(frame)
    return (await frames(sock, 1))[0]


async def quiet(sock: Socket) -> bool:
    """True when nothing but presence pushes arrives for a moment."""
    while not await sock.nothing(0.2):
        if (await sock.recv())["type"] not in PRESENCE:
            return False
    return True


@db
def mailbox_of(owner: str) -> list[tuple]:
    return list(
        MailboxEntry.objects.filter(owner=owner)
        .order_by("seq")
        .values_list("letter__message_id", "letter__sender", "letter__payload")
    )
