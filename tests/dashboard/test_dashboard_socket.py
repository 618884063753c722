"""/ws/dashboard: operators only; snapshot, batched events, request_snapshot, retry_task."""

import asyncio
import json
import time

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from agentcom_site.asgi import application
from agents import services
from tasks import queue
from tests.conftest import assign

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = b"http://testserver"
db = database_sync_to_async


def socket(cookie: str | None = None, origin: bytes | None = ORIGIN) -> WebsocketCommunicator:
    headers = [(b"host", b"testserver")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    if origin:
        headers.append((b"origin", origin))
    return WebsocketCommunicator(application, "/ws/dashboard", headers=headers)


async def opened(cookie: str) -> WebsocketCommunicator:
    comm = socket(cookie)
    connected, _ = await comm.connect()
    assert connected
    first = await comm.receive_json_from(timeout=5)
    assert first["type"] == "snapshot"
    return comm


async def refused(comm: WebsocketCommunicator) -> bool:
    """Closed before accept (daphne answers that handshake with 403; see the e2e run)."""
    connected, _ = await comm.connect()
    await comm.disconnect()
    return not connected


async def test_anonymous_is_refused():
    assert await refused(socket())


async def test_non_staff_is_refused():
    def login():
        user = get_user_model().objects.create_user("visitor", password="x")
        client = Client()
        client.force_login(user)
        return f"sessionid={client.cookies['sessionid'].value}"

    assert await refused(socket(await db(login)()))


async def test_foreign_or_missing_origin_is_refused(session_cookie):
    assert await refused(socket(session_cookie, origin=b"http://evil.example"))
    assert await refused(socket(session_cookie, origin=None))


async def test_staff_gets_a_snapshot_on_connect(session_cookie):
    await db(services.ensure_agent)("card-1")
    comm = socket(session_cookie)
    connected, _ = await comm.connect()
    assert connected
    frame = await comm.receive_json_from(timeout=5)
    assert frame["type"] == "snapshot"
    assert [a["agent_id"] for a in frame["data"]["agents"]] == ["card-1"]
    assert {"health", "queue", "throughput", "dead_letter_tasks"} <= frame["data"].keys()
    await comm.disconnect()


async def test_changes_arrive_as_one_batch_within_100ms(session_cookie):
    comm = await opened(session_cookie)

    def two_tasks():
        return [queue.submit_task(description=d, submitted_by="t")[0].id for d in ("a", "b")]

    started = time.monotonic()
    first, second = await db(two_tasks)()
    frame = await comm.receive_json_from(timeout=5)
    elapsed = time.monotonic() - started
    assert frame["type"] == "events"
    assert [(e["type"], e["task_id"], e["event"]) for e in frame["data"]] == [
        ("task_event", first, "task_submitted"),
        ("task_event", second, "task_submitted"),
    ]
    assert all(isinstance(e["timestamp"], int) for e in frame["data"])
    assert elapsed < 1.0
    assert await comm.receive_nothing(timeout=0.3)  # nothing else happened: nothing sent
    await comm.disconnect()


async def test_agent_presence_and_task_moves_are_reported(session_cookie, make_agent):
    from tests.conftest import bring_online

    agent = await db(make_agent)("mover")
    comm = await opened(session_cookie)

    def work():
        bring_online(agent)
        task, _ = queue.submit_task(description="x", submitted_by="t")
        assign(task.id, agent)
        return task.id

    task_id = await db(work)()
    seen = []
    deadline = time.monotonic() + 5
    while ("task_event", "task_assigned") not in seen and time.monotonic() < deadline:
        frame = await comm.receive_json_from(timeout=5)
        assert frame["type"] == "events"
        seen += [(e["type"], e.get("event")) for e in frame["data"]]
        states = [e for e in frame["data"] if e["type"] == "agent_state"]
        if states:
            assert states[-1]["agent_id"] == "mover"
    assert ("task_event", "task_assigned") in seen
    assert ("agent_state", None) in seen
    assert task_id
    await comm.disconnect()


async def test_request_snapshot_answers_with_a_fresh_one(session_cookie):
    comm = await opened(session_cookie)
    await db(services.ensure_agent)("late-comer")
    await comm.send_json_to({"type": "request_snapshot"})
    frame = await comm.receive_json_from(timeout=5)
    assert frame["type"] == "snapshot"
    assert "late-comer" in [a["agent_id"] for a in frame["data"]["agents"]]
    await comm.disconnect()


async def test_retry_task_requeues_a_dead_letter(session_cookie, make_agent):
    def dead_letter():
        agent = make_agent("failer", online=True)
        # A capability nobody has: once requeued, no scheduler anywhere takes it again.
        task, _ = queue.submit_task(
            description="x", submitted_by="t", max_retries=1, needed_capabilities=["unheld"]
        )
        assign(task.id, agent)
        agent.refresh_from_db()
        queue.fail_task(task.id, agent, 1, error="boom")
        return task.id

    task_id = await db(dead_letter)()
    comm = await opened(session_cookie)
    await comm.send_json_to({"type": "retry_task", "task_id": task_id})
    reply = await receive_type(comm, "retry_result")
    assert reply == {"type": "retry_result", "task_id": task_id, "status": "requeued"}
    record = await db(lambda: queue.Task.objects.get(pk=task_id))()
    assert record.status == "queued"
    last = await db(lambda: record.events.order_by("-seq").first())()
    assert last.actor == "operator:ops" and last.reason == "retry"

    await comm.send_json_to({"type": "retry_task", "task_id": task_id})
    again = await receive_type(comm, "retry_result")
    assert again["status"] == "invalid_state"
    await comm.send_json_to({"type": "retry_task", "task_id": "task-0000000000000000"})
    assert (await receive_type(comm, "retry_result"))["status"] == "not_found"
    await comm.disconnect()


async def test_bad_frames_get_errors_and_the_socket_stays(session_cookie):
    comm = await opened(session_cookie)
    await comm.send_to(text_data="{not json")
    assert (await comm.receive_json_from())["error"] == "invalid_json"
    await comm.send_to(text_data=json.dumps([1, 2]))
    assert (await comm.receive_json_from())["error"] == "validation_failed"
    await comm.send_json_to({"type": "launch_rockets"})
    unknown = await comm.receive_json_from()
    assert unknown["error"] == "unknown_message_type"
    await comm.send_json_to({"type": "retry_task"})
    missing = await comm.receive_json_from()
    assert missing["error"] == "validation_failed"
    assert missing["errors"][0]["field"] == "task_id"
    await comm.send_to(bytes_data=b"\x00")
    assert (await comm.receive_json_from())["error"] == "invalid_json"
    await comm.send_json_to({"type": "ping"})
    assert (await comm.receive_json_from())["type"] == "pong"
    await comm.disconnect()


async def receive_type(comm: WebsocketCommunicator, kind: str) -> dict:
    """The next frame of `kind`; feed batches caused by the test itself are skipped."""
    async with asyncio.timeout(5):
        while True:
            frame = await comm.receive_json_from(timeout=5)
            if frame["type"] == kind:
                return frame
            assert frame["type"] == "events", frame
