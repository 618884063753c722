"""Helpers for consumer tests: a real ASGI application behind Channels' communicator."""

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from agentcom_site.asgi import application

TIMEOUT = 5


class Socket:
    """An agent-side socket that speaks JSON frames."""

    def __init__(self) -> None:
        self.comm = WebsocketCommunicator(application, "/ws")

    async def open(self) -> "Socket":
        connected, _ = await self.comm.connect()
        assert connected
        return self

    async def send(self, frame: Any) -> None:
        await self.comm.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        return await self.comm.receive_json_from(timeout=timeout)

    async def recv_type(self, kind: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame of `kind`, skipping presence pushes."""
        while True:
            frame = await self.recv(timeout)
            if frame["type"] == kind:
                return frame
            assert frame["type"] in ("agent_joined", "agent_left", "status_changed"), frame

    async def ask(self, frame: Any) -> dict[str, Any]:
        await self.send(frame)
        return await self.recv()

    async def nothing(self, timeout: float = 0.2) -> bool:
        return await self.comm.receive_nothing(timeout=timeout)

    async def identify(self, agent_id: str, token: str, **extra: Any) -> dict[str, Any]:
        await self.send({"type": "identify", "agent_id": agent_id, "token": token, **extra})
        return await self.recv_type("identified")

    async def close(self) -> None:
        await self.comm.disconnect()


async def agent_socket(agent_id: str, token: str, **extra: Any) -> Socket:
    sock = await Socket().open()
    reply = await sock.identify(agent_id, token, **extra)
    assert reply == {"type": "identified", "agent_id": agent_id}
    return sock


def db(fn):
    return database_sync_to_async(fn)
