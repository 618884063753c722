"""The transport: frames committed in database threads reach the loop in order, per lane."""

import asyncio
import threading

from channels.layers import get_channel_layer

from agentcom_site.core import transport
from agents.push import PRESENCE_GROUP, push_message


async def test_a_frame_for_one_socket_does_not_wait_behind_group_broadcasts(monkeypatch):
    release_groups = asyncio.Event()
    delivered: list[tuple[str, str]] = []

    async def slow_group_send(group, message):
        await release_groups.wait()
        delivered.append((group, message["frame"]["type"]))

    async def socket_send(channel_name, message):
        delivered.append((channel_name, message["frame"]["type"]))
        return True

    monkeypatch.setattr(transport, "send_to_group", slow_group_send)
    monkeypatch.setattr(transport, "send_to_socket", socket_send)
    transport.attach_outbox()
    try:
        # Announced from a database thread, as committed changes are.
        def announce() -> None:
            for n in range(3):
                transport.to_group(PRESENCE_GROUP, push_message({"type": f"agent_joined{n}"}))
            transport.to_socket("socket-1", push_message({"type": "task_assign"}))
            transport.to_socket("socket-1", push_message({"type": "task_cancelled"}))

        thread = threading.Thread(target=announce)
        thread.start()
        thread.join()
        while len(delivered) < 2:
            await asyncio.sleep(0)
        assert delivered == [("socket-1", "task_assign"), ("socket-1", "task_cancelled")]

        release_groups.set()
        while len(delivered) < 5:
            await asyncio.sleep(0)
        assert [kind for _, kind in delivered[2:]] == [
            "agent_joined0",
            "agent_joined1",
            "agent_joined2",
        ]
    finally:
        transport.detach_outbox()


async def test_without_an_outbox_a_thread_delivers_before_returning(monkeypatch):
    delivered: list[str] = []

    async def socket_send(channel_name, message):
        delivered.append(channel_name)
        return True

    monkeypatch.setattr(transport, "send_to_socket", socket_send)

    await asyncio.to_thread(transport.to_socket, "socket-2", {"type": "agent.push"})

    assert delivered == ["socket-2"]


async def test_a_group_of_the_in_memory_layer_with_no_members_is_not_swept_for(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    layer = get_channel_layer()
    calls = []
    real = layer.group_send

    async def counting(group, message):
        calls.append(group)
        await real(group, message)

    layer.group_send = counting
    try:
        await transport.send_to_group("nobody-here", {"type": "x"})
        assert calls == []
        await layer.group_add("somebody-here", "inbox-1")
        await transport.send_to_group("somebody-here", {"type": "x"})
        assert calls == ["somebody-here"]
        assert await layer.receive("inbox-1") == {"type": "x"}
    finally:
        del layer.group_send
        await layer.group_discard("somebody-here", "inbox-1")


async def test_settling_waits_for_the_pushes_handed_over_from_a_thread(monkeypatch):
    release = asyncio.Event()
    delivered: list[str] = []

    async def slow_socket_send(channel_name, message):
        await release.wait()
        delivered.append(channel_name)
        return True

    monkeypatch.setattr(transport, "send_to_socket", slow_socket_send)
    transport.attach_outbox()
    try:
        # Handed over by a database thread just before the stop, as a claim's frame is.
        await asyncio.to_thread(transport.to_socket, "socket-3", {"type": "agent.push"})
        assert not await transport.settle(timeout_s=0.05)  # still on its way
        release.set()
        assert await transport.settle(timeout_s=30)
        assert delivered == ["socket-3"]
    finally:
        transport.detach_outbox()
