"""Operations in scaled mode (Postgres + Redis): one evaluation per sweep interval across
workers, backups refused in favour of pg_dump, and Redis holding nothing durable."""

import asyncio
import json

import pytest
import redis

from tests.e2e.agents import wait_until
from tests.e2e.harness import SCALED, AgentClient
from tests.operations.receiver import Receiver

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not SCALED, reason="needs Postgres + Redis (the scaled test run)"),
]
FAST_SWEEP = {"AGENTCOM_SWEEP_INTERVAL_S": "0.2"}


def test_backup_on_postgres_points_at_pg_dump(tmp_path, backend):
    with pytest.raises(RuntimeError, match=r"pg_dump .*docs/OPERATIONS\.md"):
        backend.manage("backup", str(tmp_path / "copy.sqlite3"))


async def test_two_workers_fire_an_alert_once_and_notify_once(backend, start_hub):
    operator = backend.operator_token()
    hub = start_hub(FAST_SWEEP, no_scheduler=True)
    workers = [start_hub(FAST_SWEEP, worker=True), start_hub(FAST_SWEEP, worker=True)]
    with Receiver() as receiver:
        _, hook = await hub.ahttp("POST", "/api/webhooks", {"url": receiver.url}, operator)
        receiver.secret = hook["secret"]
        body = {"description": "x", "needed_capabilities": ["quantum"]}
        await hub.ahttp("POST", "/api/tasks", body, operator)
        await asyncio.to_thread(receiver.wait_for, 1)
        # A second such task: a later evaluation (by either worker) updates the open
        # alert's figures instead of firing another.
        await hub.ahttp("POST", "/api/tasks", body, operator)

        async def alert_updated() -> bool:
            _, page = await hub.ahttp("GET", "/api/alerts", token=operator)
            return page["alerts"][0]["facts"]["queued"] == 2

        await wait_until(alert_updated, timeout=20)
    _, page = await hub.ahttp("GET", "/api/alerts", token=operator)
    assert page["total"] == 1
    assert [g["body"]["event"] for g in receiver.accepted] == ["alert.fired"]
    _, detail = await hub.ahttp("GET", f"/api/alerts/{page['alerts'][0]['id']}", token=operator)
    assert [e["kind"] for e in detail["history"]] == ["fired"]
    # SIGTERM: the worker lets its webhook deliveries finish and exits cleanly.
    assert [worker.stop() for worker in workers] == [0, 0]


async def test_flushing_redis_under_a_running_hub_loses_nothing(backend, start_hub):
    tokens = backend.create_agents(["worker", "sender", "reader"])
    operator = backend.operator_token()
    hub = start_hub(no_scheduler=True)
    start_hub(worker=True)
    task_ids = []
    for n in range(5):
        status, task = await hub.ahttp("POST", "/api/tasks", {"description": f"t{n}"}, operator)
        task_ids.append(task["task_id"])
    sent = []
    for n in range(5):
        payload = {"to": "reader", "payload": {"n": n}}
        status, answer = await hub.ahttp("POST", "/api/message", payload, tokens["sender"])
        sent.append(answer["id"])

    store = redis.Redis.from_url(backend.env["REDIS_URL"])
    keys = list(store.scan_iter(match=backend.env["AGENTCOM_REDIS_PREFIX"] + "*", count=1000))
    if keys:
        store.delete(*keys)
    store.close()

    for task_id in task_ids:
        status, task = await hub.ahttp("GET", f"/api/tasks/{task_id}", token=operator)
        assert (status, task["status"]) == (200, "queued")
    status, mailbox = await hub.ahttp("GET", "/api/mailbox/reader", token=tokens["reader"])
    assert [m["id"] for m in mailbox["messages"]] == sent
    # The work goes on: an agent that connects now gets the queued tasks and finishes them.
    agent = await AgentClient(hub, "worker", tokens["worker"]).connect()
    for _ in task_ids:
        frame = await agent.recv_type("task_assign", timeout=20)
        await agent.ask({"type": "task_accepted", "task_id": frame["task_id"]}, "task_ack")
        done = {"type": "task_complete", "task_id": frame["task_id"]}
        await agent.ask({**done, "generation": frame["generation"]}, "task_ack")
    await agent.close()
    status, stats = await hub.ahttp("GET", "/api/tasks/stats", token=operator)
    assert stats["by_status"]["completed"] == len(task_ids), json.dumps(stats)
