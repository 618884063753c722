"""Property-based search of the gate: every JSON body route and every inbound frame type,
fed valid-shaped input and hostile mutations of it.

For each case: no 5xx and only strict JSON back; a socket never dies (the next `ping`
gets `pong`, no 1011); a refusal changes nothing; after an accepted write the task and
message lists, a task's detail and the dashboard snapshot still render. The default
profile keeps this to a few hundred cases; `HYPOTHESIS_PROFILE=long` runs the search of
docs/SECURITY.md.
"""

import json
from typing import Any

import pytest
from django.test import Client, override_settings
from hypothesis import given
from hypothesis import strategies as st

from agentcom_site.core.frames import frame_handlers
from agents import services, tokens
from agents.models import Agent, AgentToken, ResourceReport
from messaging import topics
from messaging.models import Channel, ConfigValue, MailboxEntry, Message
from tasks import queue
from tasks.models import Task, TaskEvent
from tests.conftest import bring_online
from tests.site.gate_strategies import (
    body,
    channels,
    cost_fields,
    counters,
    definition_fields,
    ids,
    json_objects,
    json_values,
    mutated,
    priorities,
    texts,
    times,
)
from tests.sockets import Socket, db

JOIN_KEY = "k" * 32
REFUSALS = ("validation_failed", "invalid_json")

task_body = body(
    description=texts,
    title=texts,
    priority=priorities,
    metadata=json_objects,
    max_retries=st.integers(min_value=-1, max_value=200),
    complete_by=times,
    needed_capabilities=st.lists(texts | st.fixed_dictionaries({"name": texts}), max_size=3),
    idempotency_key=texts,
    depends_on=st.lists(texts, max_size=2),
    assign_to=ids,
    **definition_fields,
).map(lambda b: {"description": "do it", **b})

ROUTES: dict[str, tuple[str, str, st.SearchStrategy]] = {
    "submit": ("POST", "/api/tasks", task_body),
    "batch": ("POST", "/api/tasks/batch", body(tasks=st.lists(task_body, max_size=3))),
    "cancel": ("POST", "/api/tasks/{task}/cancel", body(reason=texts)),
    "answer": ("POST", "/api/tasks/{task}/answer", body(answer=texts)),
    "push": (
        "POST",
        "/api/admin/push-task",
        body(
            agent_id=ids,
            description=texts,
            title=texts,
            metadata=json_objects,
            priority=priorities,
            max_retries=st.integers(min_value=-1, max_value=200),
            **definition_fields,
        ),
    ),
    "message": (
        "POST",
        "/api/message",
        body(payload=json_objects, to=ids, type=texts, reply_to=texts),
    ),
    "ack": ("POST", "/api/mailbox/alpha/ack", body(seq=counters)),
    "channel": ("POST", "/api/channels", body(name=channels, description=texts)),
    "publish": (
        "POST",
        "/api/channels/news/publish",
        body(payload=json_objects, type=texts, reply_to=texts),
    ),
    "default_repo": ("PUT", "/api/config/default-repo", body(url=texts | st.none())),
    "heartbeat": ("PUT", "/api/config/heartbeat-interval", body(heartbeat_interval_ms=counters)),
    "retention": ("PUT", "/api/config/mailbox-retention", body(mailbox_ttl_ms=counters)),
    "token": ("POST", "/admin/tokens", body(agent_id=ids)),
    "register": (
        "POST",
        "/api/onboard/register",
        body(agent_id=ids, capabilities=st.lists(texts, max_size=3)).map(
            lambda b: {**b, "join_key": JOIN_KEY}
        ),
    ),
}

TASK_FRAME = dict(task_id=texts, generation=counters)
measures = counters | st.floats(allow_nan=True, allow_infinity=True)
FRAMES: dict[str, st.SearchStrategy] = {
    "ping": body(),
    "identify": body(
        agent_id=ids,
        token=texts,
        name=texts,
        status=texts,
        capabilities=st.lists(texts, max_size=3),
        presence=st.booleans(),
        features=st.lists(texts, max_size=3),
    ),
    "status": body(status=texts),
    "list_agents": body(),
    "message": body(to=ids, message_type=texts, payload=json_objects, reply_to=texts),
    "channel_subscribe": body(channel=channels),
    "channel_unsubscribe": body(channel=channels),
    "channel_publish": body(
        channel=channels, payload=json_objects, message_type=texts, reply_to=texts
    ),
    "channel_history": body(channel=channels, limit=counters, since=counters),
    "list_channels": body(),
    "task_accepted": body(**TASK_FRAME),
    "task_progress": body(**TASK_FRAME, progress=json_values),
    "task_complete": body(**TASK_FRAME, result=json_objects, tokens_used=counters, **cost_fields),
    "task_failed": body(**TASK_FRAME, error=texts, reason=texts),
    "task_rejected": body(**TASK_FRAME, reason=texts),
    "task_recovering": body(task_id=texts),
    "task_input_required": body(**TASK_FRAME, question=texts),
    "state_report": body(**TASK_FRAME, status=texts),
    "wake_result": body(
        task_id=texts, status=st.sampled_from(["success", "failed", "x"]), attempt=counters
    ),
    "resource_report": body(
        cpu_percent=measures,
        ram_used_bytes=counters,
        ram_total_bytes=counters,
        vram_used_bytes=counters,
        vram_total_bytes=counters,
        load_1m=measures,
    ),
    "agent_restarting": body(reason=texts),
}


def test_every_registered_frame_type_is_searched():
    assert set(frame_handlers()) | {"ping"} == set(FRAMES)


def state() -> tuple:
    """What a refusal must leave as it was."""
    return (
        Task.objects.count(),
        TaskEvent.objects.count(),
        list(Task.objects.order_by("id").values_list("status", "generation")),
        Message.objects.count(),
        MailboxEntry.objects.count(),
        Channel.objects.count(),
        Agent.objects.count(),
        AgentToken.objects.count(),
        list(ConfigValue.objects.order_by("key").values_list("key", "value")),
        list(ResourceReport.objects.values_list("agent_id", "cpu_percent", "restarting_at")),
    )


def strict_json(content: bytes) -> Any:
    def no_constants(name: str) -> Any:
        raise AssertionError(f"the hub answered with {name}, which is not JSON")

    return json.loads(content, parse_constant=no_constants)


def reads_render(operator: Client) -> None:
    """The reads an operator relies on still answer after an accepted write."""
    paths = ["/api/tasks", "/api/messages", "/api/dashboard/state", "/api/channels"]
    paths += ["/api/agents/alpha/state"]
    paths += [f"/api/tasks/{pk}" for pk in Task.objects.values_list("pk", flat=True)[:3]]
    for path in paths:
        response = operator.get(path)
        assert response.status_code == 200, (path, response.content[:300])
        strict_json(response.content)


@pytest.fixture
def world(make_agent, agent_token, operator_token, submit):
    """An agent `alpha` (the caller of agent routes), a channel and a task to cancel."""
    alpha = make_agent("alpha", online=True)
    make_agent("beta", online=True)
    topics.create_channel(name="news", description="", created_by="alpha")
    topics.subscribe(name="news", agent=alpha)
    task = submit("to cancel")
    return {
        "agent": Client(headers={"Authorization": f"Bearer {agent_token(alpha)}"}),
        "operator": Client(headers={"Authorization": f"Bearer {operator_token}"}),
        "task": task.id,
    }


@pytest.mark.django_db
@override_settings(AGENTCOM_JOIN_KEY=JOIN_KEY)
@pytest.mark.parametrize("route", list(ROUTES))
def test_http_bodies(world, route):
    method, path, shape = ROUTES[route]
    path = path.format(task=world["task"])
    client = (
        world["operator"]
        if route in ("push", "default_repo", "heartbeat", "retention", "token", "cancel", "answer")
        else world["agent"]
    )

    @given(text=mutated(shape))
    def case(text: str) -> None:
        before = state()
        response = client.generic(method, path, text, content_type="application/json")
        assert response.status_code < 500, (text[:300], response.content[:300])
        assert response["Content-Type"].startswith("application/json")
        answer = strict_json(response.content)
        if response.status_code >= 400:
            assert state() == before, (text[:300], answer)
        else:
            reads_render(world["operator"])

    case()


def socket_world() -> tuple[str, str, Client]:
    """alpha (online, holding a task) with a fresh token, beta, a channel and an operator
    client; created by the first case of a test and reused by the rest."""
    alpha = Agent.objects.filter(agent_id="alpha").first()
    if alpha is None:
        alpha, _ = services.ensure_agent("alpha")
        services.ensure_agent("beta")
        topics.create_channel(name="news", description="", created_by="alpha")
        task, _ = queue.submit_task(description="held", submitted_by="ops")
        queue.assign_task(task.id, bring_online(alpha).pk)
    task_id = Task.objects.values_list("id", flat=True).first()
    operator = Client(headers={"Authorization": f"Bearer {tokens.issue_operator_token('ops')[1]}"})
    return tokens.issue_agent_token(alpha)[1], task_id, operator


@st.composite
def frames(draw: st.DrawFn, kind: str) -> str:
    shape = FRAMES[kind].map(lambda f: {"type": kind, **f})
    return draw(mutated(shape))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", list(FRAMES))
@given(data=st.data())
async def test_socket_frames(kind, data):
    token, task_id, operator = await db(socket_world)()
    text = data.draw(frames(kind)).replace('"task_id": ""', f'"task_id": "{task_id}"')
    sock = await Socket().open()
    if kind != "identify":
        await sock.identify("alpha", token, presence=False)
    before = await db(state)()
    await sock.send(text)
    # Frames are answered in order, so every answer to the case comes before the pong;
    # a consumer that died would close the socket instead (receive raises).
    await sock.send({"type": "ping"})
    replies = []
    while (reply := await sock.recv())["type"] != "pong":
        replies.append(reply)
    refused = [r for r in replies if r.get("type") == "error" and r.get("error") in REFUSALS]
    if refused:
        assert await db(state)() == before, (text[:300], refused)
    if not refused:
        await db(reads_render)(operator)
    await sock.close()
