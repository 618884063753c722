"""Task frames over the agent socket, scheduled by the real scheduler loop."""

import pytest

from agents import services, tokens
from agents.models import Agent
from tasks import queue, scheduler
from tasks.models import Task, TaskEvent
from tests.sockets import agent_socket, db

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def running_scheduler():
    loop = scheduler.install_local_loop()
    yield loop
    await loop.stop()
    scheduler.uninstall_local_loop()


@db
def new_agent(agent_id: str, capabilities=()) -> str:
    agent, _ = services.ensure_agent(agent_id, capabilities=list(capabilities))
    return tokens.issue_agent_token(agent)[1]


@db
def submit(**fields) -> str:
    task, _ = queue.submit_task(
        description=fields.pop("description", "work"), submitted_by="t", **fields
    )
    return task.id


@db
def task_row(task_id: str) -> Task:
    return Task.objects.select_related("holder").get(pk=task_id)


@db
def agent_row(agent_id: str) -> Agent:
    return Agent.objects.get(agent_id=agent_id)


@db
def audit(task_id: str) -> list[str]:
    return list(
        TaskEvent.objects.filter(task_id=task_id).order_by("seq").values_list("event", flat=True)
    )


async def assigned_socket(agent_id: str = "worker"):
    token = await new_agent(agent_id)
    sock = await agent_socket(agent_id, token)
    task_id = await submit()
    frame = await sock.recv_type("task_assign")
    assert frame["task_id"] == task_id
    return sock, frame


async def test_full_lifecycle_over_the_socket(running_scheduler):
    sock, assign = await assigned_socket()
    assert set(assign) >= {
        "task_id",
        "description",
        "metadata",
        "generation",
        "assigned_at",
        "title",
        "priority",
    }
    task_id, generation = assign["task_id"], assign["generation"]
    assert await sock.ask({"type": "task_accepted", "task_id": task_id}) == {
        "type": "task_ack",
        "task_id": task_id,
        "status": "accepted",
    }
    assert (await agent_row("worker")).state == "working"
    await sock.send(
        {
            "type": "task_progress",
            "task_id": task_id,
            "generation": generation,
            "progress": {"pct": 50},
        }
    )
    assert await sock.nothing()  # progress is not answered
    assert (await task_row(task_id)).progress == {"pct": 50}
    done = await sock.ask(
        {
            "type": "task_complete",
            "task_id": task_id,
            "generation": generation,
            "result": {"status": "success", "tokens_used": 12},
        }
    )
    assert done == {"type": "task_ack", "task_id": task_id, "status": "complete"}
    task = await task_row(task_id)
    assert task.status == "completed" and task.tokens_used == 12
    assert (await agent_row("worker")).state == "idle"
    assert await audit(task_id) == ["queued", "assigned", "accepted", "completed"]
    await sock.close()


async def test_failure_acks_retried_then_dead_letter(running_scheduler):
    token = await new_agent("worker")
    sock = await agent_socket("worker", token)
    task_id = await submit(max_retries=2)
    first = await sock.recv_type("task_assign")
    ack = await sock.ask(
        {
            "type": "task_failed",
            "task_id": task_id,
            "generation": first["generation"],
            "reason": "flaky",
        }
    )
    assert ack["status"] == "retried"
    second = await sock.recv_type("task_assign")
    assert (
        second["generation"] == first["generation"] + 2
    )  # back to queued (+1), assigned again (+1)
    ack = await sock.ask(
        {
            "type": "task_failed",
            "task_id": task_id,
            "generation": second["generation"],
            "error": "wins",
            "reason": "loses",
        }
    )
    assert ack["status"] == "dead_letter"
    task = await task_row(task_id)
    assert task.status == "dead_letter" and task.last_error == "wins" and task.retry_count == 2
    await sock.close()


@pytest.mark.parametrize(
    ("frame", "field", "error"),
    [
        ({"type": "task_complete", "task_id": "TASK"}, "generation", "required"),
        (
            {"type": "task_complete", "task_id": "TASK", "generation": "1"},
            "generation",
            "wrong_type",
        ),
        (
            {"type": "task_complete", "task_id": "TASK", "generation": 1, "result": []},
            "result",
            "wrong_type",
        ),
        ({"type": "task_failed", "task_id": "TASK"}, "generation", "required"),
        ({"type": "task_accepted"}, "task_id", "required"),
        ({"type": "task_accepted", "task_id": 12}, "task_id", "wrong_type"),
        ({"type": "task_rejected", "task_id": "TASK", "reason": "r" * 2001}, "reason", "too_long"),
        ({"type": "state_report", "task_id": "TASK"}, "generation", "required"),
        ({"type": "wake_result", "task_id": "TASK", "status": "maybe"}, "status", "invalid_value"),
        ({"type": "task_progress", "task_id": "x" * 129}, "task_id", "too_long"),
    ],
)
async def test_invalid_task_frames_change_nothing(running_scheduler, frame, field, error):
    sock, assign = await assigned_socket()
    frame = {k: (assign["task_id"] if v == "TASK" else v) for k, v in frame.items()}
    before = (await task_row(assign["task_id"])).status, await audit(assign["task_id"])
    reply = await sock.ask(frame)
    assert reply["type"] == "error" and reply["error"] == "validation_failed"
    assert reply["message_type"] == frame["type"]
    assert {"field": field, "error": error} in [
        {"field": e["field"], "error": e["error"]} for e in reply["errors"]
    ]
    assert ((await task_row(assign["task_id"])).status, await audit(assign["task_id"])) == before
    await sock.close()


async def test_refusals_name_the_verb_and_reason_and_reset_idle(running_scheduler):
    sock, assign = await assigned_socket()
    task_id = assign["task_id"]
    stale = await sock.ask({"type": "task_complete", "task_id": task_id, "generation": 42})
    assert stale == {
        "type": "error",
        "error": "task_complete_failed: stale_generation",
        "detail": stale["detail"],
        "task_id": task_id,
    }
    unknown = await sock.ask({"type": "task_accepted", "task_id": "task-ffffffffffffffff"})
    assert unknown["error"] == "task_accept_failed: not_found"
    task = await task_row(task_id)
    assert task.status == "assigned" and (await agent_row("worker")).state == "assigned"
    # the agent still holds a task, so the idle reset leaves it assigned
    await sock.close()


async def test_reject_busy_flags_the_agent_and_requeues(running_scheduler):
    sock, assign = await assigned_socket()
    ack = await sock.ask({"type": "task_rejected", "task_id": assign["task_id"], "reason": "busy"})
    assert ack["status"] == "rejected"
    agent = await agent_row("worker")
    assert agent.busy and agent.state == "idle"
    task = await task_row(assign["task_id"])
    assert task.status == "queued" and task.rejected_by == ["worker"]
    assert await sock.nothing(0.3)  # a busy agent is not offered work
    await sock.close()


async def test_recovering_and_state_report(running_scheduler):
    sock, assign = await assigned_socket()
    task_id, generation = assign["task_id"], assign["generation"]
    cont = await sock.ask(
        {"type": "task_recovering", "task_id": task_id, "last_status": "working", "extra": 1}
    )
    assert cont == {"type": "task_continue", "task_id": task_id, "generation": generation}
    assert (await task_row(task_id)).status == "working"
    report = await sock.ask({"type": "state_report", "task_id": task_id, "generation": generation})
    assert report == {"type": "state_report_ack", "task_id": task_id, "action": "continue"}
    assert (await sock.recv())["type"] == "task_continue"
    other = await sock.ask({"type": "task_recovering", "task_id": "task-0000000000000000"})
    assert other == {"type": "task_reassign", "task_id": "task-0000000000000000"}
    abort = await sock.ask(
        {"type": "state_report", "task_id": task_id, "generation": generation + 7}
    )
    assert abort == {"type": "state_report_ack", "task_id": task_id, "action": "abort"}
    task = await task_row(task_id)
    assert task.status in ("queued", "assigned") and task.generation > generation
    await sock.close()


async def test_wake_result_is_never_answered_and_counts_as_activity(running_scheduler):
    sock, assign = await assigned_socket()
    before = (await task_row(assign["task_id"])).last_activity_at
    await sock.send(
        {"type": "wake_result", "task_id": assign["task_id"], "status": "success", "attempt": 1}
    )
    assert await sock.nothing()
    assert (await task_row(assign["task_id"])).last_activity_at > before
    await sock.close()


async def test_wake_attempts_and_their_outcomes_are_in_the_timeline(running_scheduler):
    sock, assign = await assigned_socket()
    task_id = assign["task_id"]
    for attempt, status, error in ((1, "failed", "exit code 3: boom"), (2, "success", None)):
        frame = {"type": "wake_result", "task_id": task_id, "status": status, "attempt": attempt}
        await sock.send({**frame, **({"error": error} if error else {})})
    assert await sock.nothing()

    wakes = await db(
        lambda: list(
            TaskEvent.objects.filter(task_id=task_id, event="wake")
            .order_by("seq")
            .values_list("reason", "details")
        )
    )()
    assert wakes == [
        ("exit code 3: boom", {"status": "failed", "attempt": 1}),
        ("", {"status": "success", "attempt": 2}),
    ]
    await sock.close()


async def test_a_wake_result_for_a_task_one_does_not_hold_records_nothing(running_scheduler):
    sock, assign = await assigned_socket()
    await db(queue.cancel_task)(assign["task_id"], actor="operator:ops")
    await sock.recv_type("task_cancelled")
    await sock.send({"type": "wake_result", "task_id": assign["task_id"], "status": "failed"})
    assert await sock.nothing()
    assert not await db(TaskEvent.objects.filter(event="wake").exists)()
    await sock.close()


async def test_cancel_pushes_task_cancelled_to_the_holder(running_scheduler):
    sock, assign = await assigned_socket()
    await db(queue.cancel_task)(assign["task_id"], actor="operator:ops", reason="no longer needed")
    cancelled = await sock.recv_type("task_cancelled")
    assert cancelled["task_id"] == assign["task_id"] and cancelled["reason"] == "cancelled"
    assert isinstance(cancelled["timestamp"], int)
    assert (await agent_row("worker")).state == "idle"
    await sock.close()


async def test_pinned_task_waits_for_its_agent(running_scheduler):
    token_a = await new_agent("a")
    token_b = await new_agent("b")
    a = await agent_socket("a", token_a)
    pinned = await db(
        lambda: (
            queue.submit_task(
                description="for b", submitted_by="t", pinned_to=Agent.objects.get(agent_id="b")
            )[0].id
        )
    )()
    assert await a.nothing(0.3)
    b = await agent_socket("b", token_b)
    assert (await b.recv_type("task_assign"))["task_id"] == pinned
    await a.close()
    await b.close()


async def test_disconnect_with_zero_grace_reclaims_at_once(running_scheduler, settings):
    settings.AGENTCOM_RECONNECT_GRACE_S = 0
    sock, assign = await assigned_socket()
    await sock.close()
    task = await task_row(assign["task_id"])
    assert task.status == "queued" and task.holder is None
    assert (await audit(assign["task_id"]))[-1] == "reclaimed"
