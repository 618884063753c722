"""The outbox: frames committed in database threads reach the loop in order, per lane."""

import asyncio
import threading

from agents import push


async def test_a_frame_for_one_socket_does_not_wait_behind_group_broadcasts(monkeypatch):
    release_groups = asyncio.Event()
    delivered: list[tuple[str, str]] = []

    async def slow_group_send(group, message):
        await release_groups.wait()
        delivered.append((group, message["frame"]["type"]))

    async def socket_send(channel_name, message):
        delivered.append((channel_name, message["frame"]["type"]))
        return True

    monkeypatch.setattr(push, "send_to_group", slow_group_send)
    monkeypatch.setattr(push, "send_to_socket", socket_send)
    outbox = push.Outbox(asyncio.get_running_loop())
    try:
        # Announced from a database thread, as committed changes are.
        def announce() -> None:
            for n in range(3):
                outbox.put(push.PRESENCE_GROUP, push.push_message({"type": f"agent_joined{n}"}))
            outbox.put("socket-1", push.push_message({"type": "task_assign"}))
            outbox.put("socket-1", push.push_message({"type": "task_cancelled"}))

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
        for task in outbox.tasks:
            task.cancel()
