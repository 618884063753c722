"""The input gate: one set of checks for every body and frame, before anything changes."""

import json

import pytest

from agentcom_site.core.errors import HubError
from agentcom_site.core.validation import json_problem, loads, nesting_depth
from agents.models import Agent
from agents.services import ensure_agent, register_agent
from messaging.models import Channel, Message
from tasks.models import Task
from tests.messaging.sockets import online
from tests.sockets import agent_socket, db

pytestmark = pytest.mark.django_db

HOSTILE = {
    "deep": '{"description": "x", "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "nan": '{"description": "x", "metadata": {"a": NaN}}',
    "infinity": '{"description": "x", "metadata": {"a": -Infinity}}',
    "overflowing float": '{"description": "x", "metadata": {"a": 1e400}}',
    "huge int": '{"description": "x", "metadata": {"a": 9223372036854775808}}',
    "nul": '{"description": "x\\u0000y"}',
    "nul key": '{"description": "x", "metadata": {"a\\u0000": 1}}',
    "lone surrogate": '{"description": "x", "metadata": {"a": "\\udcff"}}',
}


def refusal(status: int, body: dict) -> dict:
    assert status == 422 and body["error"] == "validation_failed", (status, body)
    return body["errors"][0]


# --- the gate itself ---------------------------------------------------------------------


def test_depth_is_measured_without_parsing_and_ignores_brackets_in_strings():
    assert nesting_depth("[" * 100_000) == 100_000
    assert nesting_depth(json.dumps({"a": "[[[[" * 40})) == 1
    assert nesting_depth("[" * 33 + "]" * 33) == 33


def test_loads_keeps_what_is_fine_and_refuses_the_rest():
    fine = {"a": [1, -(2**63), 2**63 - 1, 1.5, None, True, "\u00e9\U0001f600"]}
    assert loads(json.dumps(fine)) == fine
    assert loads("[" * 32 + "]" * 32) is not None
    for name, text in HOSTILE.items():
        with pytest.raises(HubError) as refused:
            loads(text)
        assert refused.value.code == "validation_failed", name


def test_invalid_utf8_is_invalid_json():
    with pytest.raises(HubError) as refused:
        loads(b'{"a": "\xed\xb3\xbf"}')  # an encoded lone surrogate
    assert refused.value.code == "invalid_json"


def test_problems_name_the_field_path():
    problem = json_problem({"a": [0, {"b": float("nan")}]}, field="metadata")
    assert (problem.field, problem.error) == ("metadata.a[1].b", "invalid_value")


# --- HTTP -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_bodies_are_422_and_store_nothing(ops, name):
    refusal(*ops.post("/api/tasks", HOSTILE[name]))
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        ({"complete_by": 10**15}, "complete_by", "out_of_range"),
        ({"complete_by": 2**63}, "complete_by", "out_of_range"),
        ({"max_retries": 101}, "max_retries", "out_of_range"),
        ({"metadata": {"k": "x" * 256 * 1024}}, "metadata", "too_large"),
        ({"assign_to": "bad id"}, "assign_to", "invalid_value"),
        ({"assign_to": "operator:ops"}, "assign_to", "invalid_value"),
    ],
)
def test_task_fields_out_of_range_are_422(ops, body, field, error):
    problem = refusal(*ops.post("/api/tasks", {"description": "x", **body}))
    assert (problem["field"], problem["error"]) == (field, error)
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/tasks", {"offset": 2**63}, "offset"),
        ("/api/tasks", {"assigned_to": "a b"}, "assigned_to"),
        ("/api/messages", {"start_time": 10**20}, "start_time"),
        ("/api/messages", {"end_time": 10**15}, "end_time"),
        ("/api/messages", {"cursor": 2**64}, "cursor"),
        ("/api/messages", {"to": "x\u0430"}, "to"),
        ("/api/messages", {"channel": "a:b"}, "channel"),
        ("/api/mailbox/alpha", {"since": 2**63}, "since"),
        ("/api/channels/news/history", {"since": 2**63}, "since"),
    ],
)
def test_query_values_out_of_range_are_422(api_for, path, params, field):
    Channel.objects.create(name="news", created_by="alpha")
    problem = refusal(*api_for("alpha").get(path, **params))
    assert problem["field"] == field


@pytest.mark.parametrize(
    "path",
    [
        "/api/agents/bad%20id/state",
        "/api/agents/operator:x/subscriptions",
        "/api/analytics/agents/%E2%80%8Balpha/hourly",
        "/api/mailbox/a%00b",
        "/api/channels/dev%20talk",
    ],
)
def test_malformed_ids_in_paths_are_422_not_echoed_404s(ops, path):
    status, body = ops.get(path)
    assert status == 422 and body["error"] == "validation_failed"


def test_broadcast_payload_has_the_smaller_cap(api_for):
    alpha = api_for("alpha")
    api_for("beta")
    payload = {"k": "x" * 70_000}
    problem = refusal(*alpha.post("/api/message", {"payload": payload}))
    assert (problem["field"], problem["error"]) == ("payload", "too_large")
    assert alpha.post("/api/message", {"to": "beta", "payload": payload})[0] == 200
    assert Message.objects.count() == 1


def test_channel_description_is_capped(api_for):
    body = {"name": "news", "description": "d" * 1_025}
    assert refusal(*api_for("alpha").post("/api/channels", body))["field"] == "description"


# --- identifiers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "agent_id",
    [
        "",
        "a" * 65,
        "-lead",
        ".lead",
        "has space",
        "tab\t",
        "colon:x",
        "operator:x",
        "caf\u00e9",
        "\u0430lpha",
        "zero\u200bwidth",
        "nul\u0000",
    ],
)
def test_every_creating_path_refuses_malformed_agent_ids(ops, agent_id):
    with pytest.raises(HubError):
        ensure_agent(agent_id)
    with pytest.raises(HubError):
        register_agent(agent_id)
    refusal(*ops.post("/admin/tokens", {"agent_id": agent_id}))
    assert not Agent.objects.exists()


def test_agent_ids_are_unique_ignoring_case(ops):
    assert ops.post("/admin/tokens", {"agent_id": "Agent-1.x_y"})[0] == 201
    status, body = ops.post("/admin/tokens", {"agent_id": "agent-1.X_Y"})
    assert status == 409 and body["error"] == "agent_id already registered"
    assert list(Agent.objects.values_list("agent_id", flat=True)) == ["Agent-1.x_y"]


def test_the_database_refuses_a_case_twin_too(make_agent):
    from django.db import IntegrityError, transaction

    make_agent("gcu-sleeper")
    with pytest.raises(IntegrityError), transaction.atomic():
        Agent.objects.create(agent_id="GCU-Sleeper")


# --- WebSocket ----------------------------------------------------------------------------


SOCKET_DB = pytest.mark.django_db(transaction=True)


@SOCKET_DB
@pytest.mark.parametrize("name", ["deep", "nan", "huge int", "nul", "lone surrogate"])
async def test_hostile_frames_are_refused_and_the_socket_stays_usable(name):
    sock = await online("alpha")
    frame = HOSTILE[name].replace('"description": "x', '"type": "message", "to": "beta", "x": "')
    assert frame.startswith('{"type": "message"')
    reply = await sock.ask(frame)
    assert reply["type"] == "error" and reply["error"] == "validation_failed"
    assert (await sock.ask({"type": "ping"}))["type"] == "pong"
    assert await db(Message.objects.count)() == 0
    await sock.close()


@SOCKET_DB
async def test_a_deep_frame_before_identify_does_not_kill_the_consumer():
    from tests.sockets import Socket

    sock = await Socket().open()
    reply = await sock.ask("[" * 100_000 + "]" * 100_000)
    assert reply["error"] == "validation_failed" and reply["errors"][0]["error"] == "too_large"
    assert (await sock.ask({"type": "ping"}))["type"] == "pong"
    await sock.close()


@SOCKET_DB
async def test_task_frame_numbers_are_bounded(assigned, agent_token):
    task, agent = await db(assigned)()
    sock = await agent_socket(agent.agent_id, await db(agent_token)(agent))
    for frame, field in [
        ({"generation": 2**31}, "generation"),
        ({"generation": 1, "tokens_used": 10**15 + 1}, "tokens_used"),
        ({"generation": 1, "result": {"k": "x" * 256 * 1024}}, "result"),
    ]:
        reply = await sock.ask({"type": "task_complete", "task_id": task.id, **frame})
        assert reply["error"] == "validation_failed" and reply["errors"][0]["field"] == field
    assert (await db(Task.objects.get)(pk=task.pk)).status == "assigned"
    await sock.close()


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/tasks?submitted_by=a%00b", "submitted_by"),
        ("/api/tasks?status=%00", "status"),
        ("/api/tasks/task-%00", None),
        ("/api/channels/news/history?x=%00", "x"),
    ],
)
def test_nul_in_paths_and_queries_is_422(ops, path, field):
    response = ops.client.get(path)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
