"""input_required over the agent socket (PROTOCOL.md §3.9): the question, every refusal,
the answer's push, recovery within the grace, and what the waiting task still accepts."""

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents import services, tokens
from agents.models import Agent
from tasks import queue, scheduler
from tasks.models import Task, TaskEvent
from tests.sockets import agent_socket, db

pytestmark = pytest.mark.django_db(transaction=True)

FEATURES = ["input_required"]


@pytest.fixture
async def running_scheduler():
    loop = scheduler.install_local_loop()
    yield loop
    await loop.stop()
    scheduler.uninstall_local_loop()


@db
def new_agent(agent_id: str) -> str:
    agent, _ = services.ensure_agent(agent_id, capabilities=[])
    return tokens.issue_agent_token(agent)[1]


@db
def submit(**fields) -> str:
    task, _ = queue.submit_task(description="work", submitted_by="t", **fields)
    return task.id


@db
def task_row(task_id: str) -> Task:
    return Task.objects.get(pk=task_id)


@db
def agent_row(agent_id: str) -> Agent:
    return Agent.objects.get(agent_id=agent_id)


@db
def events(task_id: str) -> list[TaskEvent]:
    return list(TaskEvent.objects.filter(task_id=task_id).order_by("seq"))


@db
def answer(task_id: str, text: str = "use the blue one", actor: str = "operator:ops") -> Task:
    return queue.answer_task(task_id, answer=text, actor=actor)


async def working_socket(agent_id: str = "asker", *, features=FEATURES, **extra):
    """An identified socket holding an accepted task: (socket, task_id, generation, token)."""
    token = await new_agent(agent_id)
    if features is not None:
        extra["features"] = features
    sock = await agent_socket(agent_id, token, **extra)
    task_id = await submit()
    assign = await sock.recv_type("task_assign")
    assert assign["task_id"] == task_id
    ack = await sock.ask({"type": "task_accepted", "task_id": task_id})
    assert ack["status"] == "accepted"
    return sock, task_id, assign["generation"], token


def ask_frame(task_id: str, generation: int, question: str = "which colour?") -> dict:
    return {
        "type": "task_input_required",
        "task_id": task_id,
        "generation": generation,
        "question": question,
    }


async def test_identify_stores_the_declared_features_until_the_next_identify(running_scheduler):
    token = await new_agent("feat")
    sock = await agent_socket("feat", token, features=["input_required", "later_thing"])
    assert (await agent_row("feat")).features == ["input_required", "later_thing"]
    await sock.identify("feat", token)  # no features: none any more
    assert (await agent_row("feat")).features == []
    await sock.close()


@pytest.mark.parametrize(
    ("features", "field", "error"),
    [
        ("input_required", "features", "wrong_type"),
        (["Input-Required"], "features[0]", "invalid_value"),
        ([""], "features[0]", "invalid_value"),
        (["x" * 65], "features[0]", "too_long"),
        ([f"f{i}" for i in range(17)], "features", "too_long"),
        ([1], "features[0]", "wrong_type"),
    ],
)
async def test_bad_features_refuse_the_identify(features, field, error):
    token = await new_agent("feat")
    from tests.sockets import Socket

    sock = await Socket().open()
    reply = await sock.ask(
        {"type": "identify", "agent_id": "feat", "token": token, "features": features}
    )
    assert reply["error"] == "validation_failed"
    assert {"field": field, "error": error} in [
        {"field": e["field"], "error": e["error"]} for e in reply["errors"]
    ]
    assert (await agent_row("feat")).state == "offline"
    await sock.close()


async def test_question_answer_push_and_completion(running_scheduler):
    sock, task_id, generation, _ = await working_socket()
    ack = await sock.ask(ask_frame(task_id, generation))
    assert ack == {"type": "task_ack", "task_id": task_id, "status": "input_required"}
    task = await task_row(task_id)
    assert task.status == "input_required" and task.question == "which colour?"
    assert (await agent_row("asker")).state == "working"  # still busy with it
    asked = (await events(task_id))[-1]
    assert (asked.event, asked.from_status, asked.to_status) == (
        "input_required",
        "working",
        "input_required",
    )
    assert asked.details == {"question": "which colour?"} and asked.actor == "asker"

    await answer(task_id)
    pushed = await sock.recv_type("task_input")
    assert pushed == {
        "type": "task_input",
        "task_id": task_id,
        "generation": generation,
        "answer_id": 1,
        "question": "which colour?",
        "answer": "use the blue one",
    }
    task = await task_row(task_id)
    assert task.status == "working" and task.answered_by == "operator:ops"
    answered = (await events(task_id))[-1]
    assert (answered.event, answered.actor, answered.to_status) == (
        "input_answered",
        "operator:ops",
        "working",
    )
    done = await sock.ask(
        {"type": "task_complete", "task_id": task_id, "generation": generation, "result": {}}
    )
    assert done["status"] == "complete"
    await sock.close()


async def test_answers_are_numbered_one_per_answer(running_scheduler):
    sock, task_id, generation, _ = await working_socket()
    for number in (1, 2):
        await sock.ask(ask_frame(task_id, generation, f"question {number}"))
        await answer(task_id, f"answer {number}")
        pushed = await sock.recv_type("task_input")
        assert (pushed["answer_id"], pushed["question"], pushed["answer"]) == (
            number,
            f"question {number}",
            f"answer {number}",
        )
    await sock.close()


async def test_refusals_name_each_reason_and_change_nothing(running_scheduler):
    sock, task_id, generation, _ = await working_socket()
    other_token = await new_agent("other")
    other = await agent_socket("other", other_token, features=FEATURES)
    cases = [
        (sock, ask_frame("task-ffffffffffffffff", generation), "not_found"),
        (other, ask_frame(task_id, generation), "not_assignee"),
        (sock, ask_frame(task_id, generation + 1), "stale_generation"),
    ]
    for socket, frame, reason in cases:
        before = await events(task_id)
        await socket.send(frame)
        reply = await socket.recv_type("error")
        assert reply["error"] == f"task_input_required_failed: {reason}"
        assert reply["task_id"] == frame["task_id"]
        assert (await task_row(task_id)).status == "working"
        assert len(await events(task_id)) == len(before)
    # waiting already: a second question is refused as invalid_state
    await sock.ask(ask_frame(task_id, generation))
    reply = await sock.ask(ask_frame(task_id, generation, "again?"))
    assert reply["error"] == "task_input_required_failed: invalid_state"
    assert (await task_row(task_id)).question == "which colour?"
    await sock.close()
    await other.close()


async def test_an_assigned_task_cannot_ask_yet(running_scheduler):
    token = await new_agent("early")
    sock = await agent_socket("early", token, features=FEATURES)
    task_id = await submit()
    assign = await sock.recv_type("task_assign")
    reply = await sock.ask(ask_frame(task_id, assign["generation"]))
    assert reply["error"] == "task_input_required_failed: invalid_state"
    assert (await task_row(task_id)).status == "assigned"
    await sock.close()


async def test_an_agent_without_the_feature_is_refused_and_never_gets_task_input(
    running_scheduler,
):
    sock, task_id, generation, _ = await working_socket("plain", features=None)
    reply = await sock.ask(ask_frame(task_id, generation))
    assert reply["error"] == "task_input_required_failed: feature_not_declared"
    task = await task_row(task_id)
    assert task.status == "working" and task.question == ""
    assert [e.event for e in await events(task_id)][-1] == "accepted"
    await sock.close()


async def test_the_feature_dropped_on_reidentify_is_refused(running_scheduler):
    sock, task_id, generation, token = await working_socket()
    await sock.identify("asker", token)  # identifies again without features
    reply = await sock.ask(ask_frame(task_id, generation))
    assert reply["error"] == "task_input_required_failed: feature_not_declared"
    await sock.close()


@pytest.mark.parametrize(
    ("change", "field", "error"),
    [
        ({"question": ""}, "question", "invalid_value"),
        ({"question": "q" * 4001}, "question", "too_long"),
        ({"question": 7}, "question", "wrong_type"),
        ({"question": None}, "question", "wrong_type"),
        ({"generation": None}, "generation", "wrong_type"),
        ({"generation": -1}, "generation", "out_of_range"),
    ],
)
async def test_bad_question_frames_are_validation_failures(running_scheduler, change, field, error):
    sock, task_id, generation, _ = await working_socket()
    reply = await sock.ask({**ask_frame(task_id, generation), **change})
    assert reply["error"] == "validation_failed"
    assert reply["message_type"] == "task_input_required"
    assert {"field": field, "error": error} in [
        {"field": e["field"], "error": e["error"]} for e in reply["errors"]
    ]
    assert (await task_row(task_id)).status == "working"
    await sock.close()


async def test_a_missing_question_or_generation_is_required(running_scheduler):
    sock, task_id, _generation, _ = await working_socket()
    reply = await sock.ask({"type": "task_input_required", "task_id": task_id})
    fields = {(e["field"], e["error"]) for e in reply["errors"]}
    assert fields == {("generation", "required"), ("question", "required")}
    await sock.close()


@pytest.mark.parametrize(
    ("frame", "status", "final"),
    [
        ({"type": "task_complete", "result": {"ok": True}}, "complete", "completed"),
        ({"type": "task_failed", "reason": "gave up waiting"}, "retried", "queued"),
    ],
)
async def test_the_waiting_holder_may_still_finish(running_scheduler, frame, status, final):
    sock, task_id, generation, _ = await working_socket()
    await sock.ask(ask_frame(task_id, generation))
    ack = await sock.ask({**frame, "task_id": task_id, "generation": generation})
    assert ack["status"] == status
    task = await task_row(task_id)
    if final == "queued":
        assert task.status in ("queued", "assigned")  # the scheduler may place it again
    else:
        assert task.status == final
    await sock.close()


async def test_progress_while_waiting_is_accepted_and_keeps_the_state(running_scheduler):
    sock, task_id, generation, _ = await working_socket()
    await sock.ask(ask_frame(task_id, generation))
    await sock.send(
        {"type": "task_progress", "task_id": task_id, "generation": generation, "progress": 1}
    )
    assert await sock.nothing()
    task = await task_row(task_id)
    assert task.status == "input_required" and task.progress == 1
    # task_accepted is not a way out of waiting
    reply = await sock.ask({"type": "task_accepted", "task_id": task_id})
    assert reply["error"] == "task_accept_failed: invalid_state"
    await sock.close()


async def test_cancel_while_waiting_tells_the_holder(running_scheduler):
    sock, task_id, generation, _ = await working_socket()
    await sock.ask(ask_frame(task_id, generation))
    await database_sync_to_async(queue.cancel_task)(task_id, actor="operator:ops")
    cancelled = await sock.recv_type("task_cancelled")
    assert cancelled["task_id"] == task_id and cancelled["reason"] == "cancelled"
    assert (await task_row(task_id)).status == "cancelled"
    assert (await agent_row("asker")).state == "idle"
    await sock.close()


async def test_recovery_within_the_grace_keeps_waiting_and_redelivers_the_answer(
    running_scheduler, settings
):
    settings.AGENTCOM_RECONNECT_GRACE_S = 60
    sock, task_id, generation, token = await working_socket()
    await sock.ask(ask_frame(task_id, generation))
    await sock.close()
    # reconnect while still waiting: state_report continues, the state stays
    sock = await agent_socket("asker", token, features=FEATURES)
    await sock.send({"type": "state_report", "task_id": task_id, "generation": generation})
    assert (await sock.recv_type("state_report_ack"))["action"] == "continue"
    assert (await sock.recv_type("task_continue"))["generation"] == generation
    assert await sock.nothing()  # no answer yet, nothing to deliver
    task = await task_row(task_id)
    assert task.status == "input_required" and task.holder_lost_at is None
    assert (await agent_row("asker")).state == "working"
    await sock.close()

    # answered while the holder is away: it gets the answer once it recovers
    await answer(task_id)
    assert (await task_row(task_id)).status == "working"
    sock = await agent_socket("asker", token, features=FEATURES)
    await sock.send({"type": "task_recovering", "task_id": task_id})
    assert (await sock.recv_type("task_continue"))["task_id"] == task_id
    pushed = await sock.recv_type("task_input")
    assert (pushed["answer_id"], pushed["answer"]) == (1, "use the blue one")

    # again until the holder shows it has moved on (a task_progress)
    await sock.send({"type": "task_recovering", "task_id": task_id})
    await sock.recv_type("task_continue")
    assert (await sock.recv_type("task_input"))["answer_id"] == 1
    await sock.send({"type": "task_progress", "task_id": task_id, "generation": generation})
    await sock.send({"type": "task_recovering", "task_id": task_id})
    await sock.recv_type("task_continue")
    assert await sock.nothing()
    await sock.close()


async def test_the_answer_is_not_redelivered_without_the_feature(running_scheduler, settings):
    settings.AGENTCOM_RECONNECT_GRACE_S = 60
    sock, task_id, generation, token = await working_socket()
    await sock.ask(ask_frame(task_id, generation))
    await sock.close()
    await answer(task_id)
    sock = await agent_socket("asker", token)  # comes back as an older client
    await sock.send({"type": "task_recovering", "task_id": task_id})
    await sock.recv_type("task_continue")
    assert await sock.nothing()
    await sock.close()


@db
def staff_answer(task_id: str, body) -> tuple[int, dict]:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("ops", password="pw", is_staff=True)
    client = Client()
    client.force_login(user)
    response = client.post(f"/api/tasks/{task_id}/answer", body, content_type="application/json")
    return response.status_code, response.json()


async def test_answer_over_http_pushes_task_input(running_scheduler):
    sock, task_id, generation, _ = await working_socket()
    await sock.ask(ask_frame(task_id, generation))
    status, body = await staff_answer(task_id, {"answer": "blue"})
    assert (status, body) == (200, {"status": "working", "task_id": task_id, "answer_id": 1})
    pushed = await sock.recv_type("task_input")
    assert pushed["answer"] == "blue" and pushed["question"] == "which colour?"
    await sock.close()


def fuzz_world() -> tuple[str, str]:
    """A holder with the feature and a working task, made by the first example."""
    agent = Agent.objects.filter(agent_id="fuzzed").first()
    if agent is None:
        agent, _ = services.ensure_agent("fuzzed")
        agent.features = FEATURES
        agent.save(update_fields=["features"])
        task, _ = queue.submit_task(description="held", submitted_by="t")
        from tests.conftest import bring_online

        queue.assign_task(task.id, bring_online(agent).pk)
        queue.accept_task(task.id, agent)
    return tokens.issue_agent_token(agent)[1], Task.objects.get(holder=agent).id


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    question=st.one_of(
        st.text(max_size=4100), st.integers(), st.none(), st.lists(st.text(max_size=3))
    ),
    generation=st.one_of(st.integers(min_value=-5, max_value=2**40), st.text(max_size=3)),
    own_task=st.booleans(),
)
async def test_hostile_question_frames_are_answered_never_internal_error(
    question, generation, own_task
):
    token, task_id = await db(fuzz_world)()
    sock = await agent_socket("fuzzed", token, presence=False, features=FEATURES)
    frame = {
        "type": "task_input_required",
        "task_id": task_id if own_task else "task-0123456789abcdef",
        "generation": generation,
        "question": question,
    }
    reply = await sock.ask(frame)
    assert reply["type"] in ("task_ack", "error"), reply
    if reply["type"] == "error":
        assert reply["error"] != "internal_error"
        assert reply["error"] == "validation_failed" or reply["error"].startswith(
            "task_input_required_failed: "
        )
    assert (await sock.ask({"type": "ping"}))["type"] == "pong"
    await sock.close()
