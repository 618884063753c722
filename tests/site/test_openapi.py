"""`/api/openapi.json` documents every answer of every route, and the answers match it.

Every route is called as a client calls it, and so are the refusals. Each answer must
validate against the schema documented for its status and must be written byte for byte as
the view built it, which is what the route wrote when it declared `response=dict`; bodies
the route tests spell out must come back equal, keys in the same order.
"""

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.http import HttpResponse, HttpResponseBase
from django.test import Client
from ninja import Status
from ninja.operation import Operation

from agentcom_site.core.clock import now, to_ms
from agentcom_site.operations import alerts
from agents.models import AgentToken
from messaging import routing, topics
from messaging.models import Message
from tasks import queue
from tasks.models import Priority, Task

pytestmark = pytest.mark.django_db

JOIN_KEY = "let-me-in"
BODY_METHODS = ("post", "put", "patch", "delete")
BODY_GUARD = ("400", "413", "415")  # the body guard answers these before any view runs
# PROTOCOL.md §4.1, auth column *op*: an agent is refused with 403.
OPERATOR_ONLY = {
    ("get", "/api/dashboard/state"),
    ("post", "/admin/tokens"),
    ("get", "/admin/tokens"),
    ("post", "/api/admin/push-task"),
    ("post", "/api/mailbox/evict"),
    ("put", "/api/config/default-repo"),
    ("put", "/api/config/heartbeat-interval"),
    ("put", "/api/config/mailbox-retention"),
    ("get", "/api/alerts"),
    ("get", "/api/alerts/settings"),
    ("put", "/api/alerts/settings"),
    ("get", "/api/alerts/{alert_id}"),
    ("post", "/api/alerts/{alert_id}/ack"),
    ("get", "/api/webhooks"),
    ("post", "/api/webhooks"),
    ("delete", "/api/webhooks/{webhook_id}"),
    ("get", "/api/webhooks/deliveries"),
    ("get", "/api/dispatch"),
    ("post", "/api/dispatch/pause"),
    ("post", "/api/dispatch/resume"),
    ("put", "/api/dispatch/caps"),
    ("post", "/api/agents/{agent_id}/drain"),
    ("post", "/api/agents/{agent_id}/undrain"),
    ("get", "/api/admin/log-level"),
    ("put", "/api/admin/log-level"),
    ("get", "/api/costs"),
    ("post", "/api/repos"),
    ("patch", "/api/repos/{name}"),
    ("post", "/api/repos/{name}/pause"),
    ("post", "/api/repos/{name}/resume"),
    ("put", "/api/budget"),
}
MESSAGE_KEYS = ["id", "from", "to", "type", "payload", "reply_to", "timestamp"]
SUBMITTED_KEYS = ["status", "task_id", "title", "priority", "created_at", "warnings"]


# --- reading the document ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def openapi(django_db_setup, django_db_blocker) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, path, op) for path, ops in doc["paths"].items() for m, op in ops.items()]


def resolved(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def problems(doc: dict[str, Any], schema: dict[str, Any], value: Any, at: str = "body") -> list:
    """Where `value` breaks `schema`, read as JSON Schema but stricter in one way: an object
    schema that does not allow other properties must name every key the body has."""
    schema = resolved(doc, schema)
    if "anyOf" in schema:
        tries = [problems(doc, option, value, at) for option in schema["anyOf"]]
        return [] if [] in tries else min(tries, key=len)
    if "enum" in schema and value not in schema["enum"]:
        return [f"{at}: {value!r} is not one of {schema['enum']}"]
    kind = schema.get("type")
    if kind is None:  # free-form: metadata, progress, result
        return []
    if not is_json_type(kind, value):
        return [f"{at}: {value!r} is not {kind}"]
    found = []
    if kind == "array":
        for i, item in enumerate(value):
            found += problems(doc, schema.get("items", {}), item, f"{at}[{i}]")
    if kind == "object":
        known = schema.get("properties", {})
        others = schema.get("additionalProperties", False)
        found += [
            f"{at}.{key} is missing" for key in schema.get("required", ()) if key not in value
        ]
        for key, item in value.items():
            if key in known:
                found += problems(doc, known[key], item, f"{at}.{key}")
            elif others is False:
                found.append(f"{at}.{key} is not documented")
            elif isinstance(others, dict):
                found += problems(doc, others, item, f"{at}.{key}")
    return found


def is_json_type(kind: str, value: Any) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    types = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    return isinstance(value, types[kind])


# --- (1) the document -------------------------------------------------------------------------


def test_every_answer_of_every_operation_has_a_schema(openapi):
    assert len(operations(openapi)) >= 43
    for method, path, op in operations(openapi):
        where = f"{method.upper()} {path}"
        assert any(status.startswith("2") for status in op["responses"]), where
        for status, answer in op["responses"].items():
            schema = resolved(openapi, answer["content"]["application/json"]["schema"])
            assert schema.get("type") == "object" and schema.get("properties"), (where, status)


def test_every_operation_documents_the_refusals_its_auth_and_input_imply(openapi):
    for method, path, op in operations(openapi):
        answers = set(op["responses"])
        where = f"{method.upper()} {path}"
        if op.get("security"):
            assert "401" in answers, where
        if (method, path) in OPERATOR_ONLY:
            assert "403" in answers, where
        if "requestBody" in op or any(p["in"] == "query" for p in op.get("parameters", ())):
            assert "422" in answers, where
        if method in BODY_METHODS:
            assert answers.issuperset(BODY_GUARD), where


def test_refusals_are_documented_as_the_error_body(openapi):
    schemas = openapi["components"]["schemas"]
    assert schemas["ErrorOut"]["required"] == ["error", "detail"]
    assert schemas["ErrorOut"]["additionalProperties"] is True  # codes may add keys
    assert schemas["UnauthorizedOut"]["required"] == ["error", "detail", "hint"]
    assert schemas["ValidationFailedOut"]["required"] == ["error", "detail", "errors"]
    assert schemas["RateLimitedOut"]["required"] == ["error", "detail", "retry_after_ms"]
    expected = {"401": "UnauthorizedOut", "422": "ValidationFailedOut", "429": "RateLimitedOut"}
    for _, _, op in operations(openapi):
        if "401" in op["responses"]:  # every route a principal calls is rate limited
            assert "429" in op["responses"]
        for status, answer in op["responses"].items():
            if status.startswith("4"):
                ref = answer["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[1] == expected.get(status, "ErrorOut")


# --- (2) the answers --------------------------------------------------------------------------


@dataclass
class World:
    """Three agents, tasks done, dead and waiting, a thread across a channel, a broadcast."""

    tokens: dict[str, str]
    done: Task
    dead: Task
    waiting: Task
    first: Message
    reply: Message
    post: Message


@pytest.fixture
def world(settings, make_agent, agent_token, operator_token, submit) -> World:
    settings.AGENTCOM_JOIN_KEY = JOIN_KEY
    worker = make_agent("worker", capabilities=["py", "git"], online=True)
    make_agent("idle-one", online=True)
    away = make_agent("away")
    tokens = {"agent": agent_token(worker), "away": agent_token(away), "operator": operator_token}

    done = submit("ship it", submitted_by="worker", priority=Priority.HIGH, metadata={"r": 0.5})
    done = queue.assign_task(done.id, worker.pk)
    queue.accept_task(done.id, worker, done.generation)
    queue.record_progress(done.id, worker, done.generation, progress={"pct": 50.0})
    result = {"pr_url": "https://example.org/pr/1", "tokens_used": 1200, "score": 0.75}
    result |= {"tokens_in": 1000, "tokens_out": 200, "model": "m-1", "cost_usd": 0.25}
    queue.complete_task(done.id, worker, done.generation, result=result)
    dead = submit("doomed", submitted_by="worker", max_retries=0)
    dead = queue.assign_task(dead.id, worker.pk)
    queue.fail_task(dead.id, worker, dead.generation, error="boom")
    later = now() + timedelta(hours=1)
    waiting = submit("later", submitted_by="worker", idempotency_key="k-1", complete_by=later)

    first = routing.send_message(sender="worker", to="away", payload={"text": "hi", "n": 0.25})
    reply = routing.send_message(sender="away", to="worker", payload={}, reply_to=first.id)
    topics.create_channel(name="builds", description="CI results", created_by="worker")
    topics.subscribe(name="builds", agent=worker)
    topics.subscribe(name="builds", agent=away)
    post = topics.publish(name="builds", sender="worker", payload={}, reply_to=first.id)
    routing.send_message(sender="worker", to=None, payload={"all": True})
    return World(tokens, done, dead, waiting, first, reply, post)


def typed(value: Any) -> Any:
    """`value` with its key order and scalar types visible to ==, so that 1 != 1.0 != True."""
    if isinstance(value, dict):
        return [(key, typed(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


def same(body: dict[str, Any], expected: dict[str, Any]) -> None:
    assert typed(body) == typed(expected)


ROUTES_OF: dict[str, set[str]] = {}  # test name -> the routes whose success it checks


def answering(routes: str):
    """Names the routes whose success answer a test checks: "GET /health, POST /api/tasks"."""

    def declare(test):
        ROUTES_OF[test.__name__] = {route.strip() for route in routes.split(",")}
        return test

    return declare


@pytest.fixture
def call(request, world, openapi, monkeypatch):
    """call(method, path, status, caller=, body=, query=, raw=, **path_params) -> the body.

    Checks the status, the body against the schema documented for that status, and that
    the schema wrote the view's value exactly as the value renders without one.
    """
    built: list[tuple[bytes, bytes]] = []
    original = Operation._result_to_response

    def spy(operation, request, result, temporal_response):
        response = original(operation, request, result, temporal_response)
        value = result.value if isinstance(result, Status) else result
        if not isinstance(value, HttpResponseBase):
            bare = operation.api.renderer.render(request, value, response_status=0)
            built.append((response.content, HttpResponse(bare).content))
        return response

    monkeypatch.setattr(Operation, "_result_to_response", spy)
    succeeded = set()

    def make(method, path, status, *, caller="agent", body=None, query="", raw=None, **params):
        token = world.tokens.get(caller)
        client = Client(headers={"Authorization": f"Bearer {token}"} if token else {})
        url = path.format(**params) + (f"?{query}" if query else "")
        built.clear()
        if method == "get":
            response = client.get(url)
        else:
            data, content_type = raw or (json.dumps(body or {}), "application/json")
            response = client.generic(method.upper(), url, data, content_type=content_type)

        assert response.status_code == status, response.content
        answer = openapi["paths"][path][method]["responses"][str(status)]
        schema = answer["content"]["application/json"]["schema"]
        assert resolved(openapi, schema).get("properties"), f"{path} {status}: any object"
        assert problems(openapi, schema, response.json()) == []
        for through_schema, bare in built:
            assert through_schema == bare
        if status < 300:
            assert len(built) == 1
            succeeded.add(f"{method.upper()} {path}")
        return response.json()

    failed_before = request.session.testsfailed
    yield make
    if request.session.testsfailed == failed_before:  # a failed test already said enough
        assert succeeded == ROUTES_OF.get(request.function.__name__, set())


def test_every_operation_has_its_success_answer_checked(openapi):
    checked = set().union(*ROUTES_OF.values())
    assert checked == {f"{m.upper()} {path}" for m, path, _ in operations(openapi)}


@answering("GET /health")
def test_health(call, monkeypatch):
    up = call("get", "/health", 200)
    dispatch = {"paused": False, "paused_capabilities": []}
    same(up, {"status": "ok", "service": "agent_com", "agents_connected": 2, "dispatch": dispatch})

    def fail():
        raise RuntimeError("the database is down")

    monkeypatch.setattr("agents.api.connected_agents", fail)
    down = call("get", "/health", 503, caller="nobody")
    same(down, {"status": "unavailable", "service": "agent_com", "error": "database_down"})


@answering(
    "GET /api/agents, GET /api/agents/states, GET /api/agents/{agent_id}/state,"
    "GET /api/agents/{agent_id}/subscriptions, POST /admin/tokens, GET /admin/tokens,"
    "DELETE /admin/tokens/{agent_id}"
)
def test_agents_and_tokens(call):
    assert len(call("get", "/api/agents", 200)["agents"]) == 2
    assert len(call("get", "/api/agents/states", 200)["agents"]) == 2
    worker = call("get", "/api/agents/{agent_id}/state", 200, agent_id="worker")
    assert worker["capabilities"] == [{"name": "py"}, {"name": "git"}] and worker["flags"] == []
    channels = call("get", "/api/agents/{agent_id}/subscriptions", 200, agent_id="worker")
    same(channels, {"agent_id": "worker", "channels": ["builds"]})

    issued = call("post", "/admin/tokens", 201, caller="operator", body={"agent_id": "fresh"})
    row = AgentToken.objects.get(agent__agent_id="fresh")
    created_at = to_ms(row.created_at)
    token, prefix = issued["token"], f"{issued['token'][:8]}..."
    fresh = {"agent_id": "fresh", "token_prefix": prefix, "created_at": created_at}
    same(issued, {"agent_id": "fresh", "token": token, **fresh})
    listed = call("get", "/admin/tokens", 200, caller="operator")["tokens"]
    assert [t["agent_id"] for t in listed] == ["worker", "away", "fresh"]
    same(listed[2], {**fresh, "last_used_at": None})
    revoked = call("delete", "/admin/tokens/{agent_id}", 200, agent_id="worker")
    same(revoked, {"status": "revoked", "agent_id": "worker", "revoked": 1})


@answering("POST /api/onboard/register")
def test_registration(call):
    body = {"agent_id": "newcomer", "join_key": JOIN_KEY, "capabilities": ["py"]}
    joined = call("post", "/api/onboard/register", 201, caller="nobody", body=body)
    urls = {"hub_ws_url": "ws://testserver/ws", "hub_api_url": "http://testserver"}
    same(joined, {"agent_id": "newcomer", "token": joined["token"], **urls, "default_repo": None})


@answering("GET /api/admin/log-level, PUT /api/admin/log-level")
def test_log_level(call, settings):
    level = logging.getLevelName(logging.getLogger().level)
    fixed = {"default": settings.AGENTCOM_LOG_LEVEL, "check_interval_s": 5.0}
    got = call("get", "/api/admin/log-level", 200, caller="operator")
    same(got, {"level": level, "stored": None, **fixed})
    put = call("put", "/api/admin/log-level", 200, caller="operator", body={"level": level})
    same(put, {"level": level, "stored": level, **fixed})
    back = call("put", "/api/admin/log-level", 200, caller="operator", body={"level": None})
    same(back, {"level": settings.AGENTCOM_LOG_LEVEL, "stored": None, **fixed})
    logging.getLogger().setLevel(level)


@answering(
    "POST /api/tasks, POST /api/tasks/batch, GET /api/tasks, GET /api/tasks/dead-letter,"
    "GET /api/tasks/stats, GET /api/tasks/{task_id}, POST /api/tasks/{task_id}/retry,"
    "POST /api/tasks/{task_id}/cancel, POST /api/admin/push-task"
)
def test_tasks(call, world):
    page = call("get", "/api/tasks", 200, query="limit=2")
    assert [t["id"] for t in page["tasks"]] == [world.done.id, world.dead.id]
    assert (page["count"], page["total"]) == (2, 3)
    done = call("get", "/api/tasks/{task_id}", 200, task_id=world.done.id)
    assert [h["event"] for h in done["history"]] == ["completed", "accepted", "assigned", "queued"]
    assert (done["metadata"], done["progress"]) == ({"r": 0.5}, {"pct": 50.0})
    stats = call("get", "/api/tasks/stats", 200)
    assert stats["by_priority"] == {"0": 0, "1": 0, "2": 1, "3": 0}
    assert call("get", "/api/tasks/dead-letter", 200)["count"] == 1

    def submitted(task_id: str, **created: bool) -> dict[str, Any]:
        task = Task.objects.get(pk=task_id)
        at = to_ms(task.created_at)
        fields = (task.status, task.id, task.title, task.priority, at, [])
        return {**dict(zip(SUBMITTED_KEYS, fields, strict=True)), **created}

    new = call("post", "/api/tasks", 201, body={"description": "say hello", "priority": "HIGH"})
    same(new, submitted(new["task_id"]))
    assert (new["title"], new["priority"]) == ("say hello", 1)
    again = call("post", "/api/tasks", 200, body={"description": "x", "idempotency_key": "k-1"})
    same(again, submitted(world.waiting.id))
    batch = call("post", "/api/tasks/batch", 201, body={"tasks": [{"description": "a"}]})
    entry = submitted(batch["tasks"][0]["task_id"], created=True)
    same(batch, {"tasks": [entry], "created": 1})

    retried = call("post", "/api/tasks/{task_id}/retry", 200, task_id=world.dead.id)
    same(retried, {"status": "requeued", "task_id": world.dead.id, "priority": 2})
    cancelled = call(
        "post", "/api/tasks/{task_id}/cancel", 200, caller="operator", task_id=world.waiting.id
    )
    same(cancelled, {"status": "cancelled", "task_id": world.waiting.id})
    push = {"agent_id": "idle-one", "description": "fix it now", "priority": "urgent"}
    pushed = call("post", "/api/admin/push-task", 200, caller="operator", body=push)
    same(pushed, {"status": "pushed", "task_id": pushed["task_id"], "agent_id": "idle-one"})


@answering("POST /api/tasks/{task_id}/answer, GET /api/tasks/{task_id}")
def test_answer(call, world, make_agent, submit):
    asker = make_agent("asker", online=True)
    asker.features = ["input_required"]
    asker.save(update_fields=["features"])
    task = queue.assign_task(submit("ask first").id, asker.pk)
    queue.accept_task(task.id, asker, task.generation)
    queue.ask_operator(task.id, asker, task.generation, question="which one?")
    call("post", "/api/tasks/{task_id}/answer", 403, task_id=task.id, body={"answer": "a"})
    answered = call(
        "post",
        "/api/tasks/{task_id}/answer",
        200,
        caller="operator",
        task_id=task.id,
        body={"answer": "the first"},
    )
    same(answered, {"status": "working", "task_id": task.id, "answer_id": 1})
    again = call(
        "post",
        "/api/tasks/{task_id}/answer",
        409,
        caller="operator",
        task_id=task.id,
        body={"answer": "the first"},
    )
    assert again["error"] == "invalid_state"
    record = call("get", "/api/tasks/{task_id}", 200, task_id=task.id)
    assert (record["question"], record["answer"]) == ("which one?", "the first")


@answering("GET /api/costs")
def test_costs(call, world):
    by_agent = call("get", "/api/costs", 200, caller="operator", query="by=agent")
    assert [g["key"] for g in by_agent["groups"]] == ["worker"]
    figures = {"tasks": 1, "failed": 0, "priced": 1, "tokens_in": 1000, "tokens_out": 200}
    figures |= {"cost_usd": 0.25}
    figures |= {"execution_ms": 0, "iterations": 0}
    same(by_agent["groups"][0], {"key": "worker", **figures})
    same(by_agent["totals"], figures)
    too_long = "since=1700000000000&until=1800000000000"
    call("get", "/api/costs", 422, caller="operator", query=too_long)
    call("get", "/api/costs", 403)


@answering(
    "GET /api/repos, POST /api/repos, GET /api/repos/{name}, PATCH /api/repos/{name},"
    "POST /api/repos/{name}/pause, POST /api/repos/{name}/resume, GET /api/budget, PUT /api/budget"
)
def test_repos_and_budgets(call, world):
    body = {"name": "shop", "url": "git@h.example.com:a/shop.git", "daily_budget_usd": 2}
    created = call("post", "/api/repos", 201, caller="operator", body=body)
    assert list(created)[:4] == ["name", "url", "default_branch", "priority"]
    assert (created["daily_budget_usd"], created["budget_reached"]) == (2.0, False)
    call("post", "/api/repos", 409, caller="operator", body=body)
    call("post", "/api/repos", 403, body=body)
    call("post", "/api/repos", 422, caller="operator", body={**body, "url": "-x"})
    assert [r["name"] for r in call("get", "/api/repos", 200)["repos"]] == ["shop"]
    same(call("get", "/api/repos/{name}", 200, name="shop"), created)
    call("get", "/api/repos/{name}", 404, name="nope")
    change = {"daily_budget_usd": None, "priority": "high"}
    changed = call("patch", "/api/repos/{name}", 200, caller="operator", body=change, name="shop")
    assert (changed["daily_budget_usd"], changed["priority"]) == (None, 1)
    paused = call("post", "/api/repos/{name}/pause", 200, caller="operator", name="shop")
    assert paused["paused"] and paused["changed"] and paused["paused_by"] == "operator:ops"
    call("post", "/api/repos/{name}/pause", 404, caller="operator", name="nope")
    resumed = call("post", "/api/repos/{name}/resume", 200, caller="operator", name="shop")
    assert not resumed["paused"] and resumed["paused_at"] is None
    fleet = call("get", "/api/budget", 200)
    assert (fleet["daily_budget_usd"], fleet["is_default"]) == (None, True)
    raised = call("put", "/api/budget", 200, caller="operator", body={"daily_budget_usd": 9.5})
    assert (raised["daily_budget_usd"], raised["changed"]) == (9.5, True)
    assert raised["spent_today_usd"] == 0.25 and raised["budget_share"] == 0.25 / 9.5


@answering(
    "GET /api/tasks/{task_id}/explain, GET /api/dispatch, POST /api/dispatch/pause,"
    "POST /api/dispatch/resume, PUT /api/dispatch/caps, POST /api/agents/{agent_id}/drain,"
    "POST /api/agents/{agent_id}/undrain"
)
def test_flow_control(call, world):
    explained = call("get", "/api/tasks/{task_id}/explain", 200, task_id=world.done.id)
    assert [r["code"] for r in explained["reasons"]] == ["completed"]
    assert call("get", "/api/dispatch", 200, caller="operator")["paused"] is False
    body = {"capability": "gpu", "reason": "maintenance"}
    paused = call("post", "/api/dispatch/pause", 200, caller="operator", body=body)
    assert (paused["paused_capabilities"], paused["changed"]) == (["gpu"], True)
    assert paused["pauses"][0]["paused_by"] == "operator:ops"
    cap = {"scope": "submitter", "key": "worker", "limit": 2}
    capped = call("put", "/api/dispatch/caps", 200, caller="operator", body=cap)
    assert capped["caps"][0]["limit"] == 2 and capped["caps"][0]["held"] == 0
    resumed = call("post", "/api/dispatch/resume", 200, caller="operator", body=body)
    assert resumed["paused_capabilities"] == []
    assert [c["action"] for c in resumed["changes"]] == ["resumed", "cap_set", "paused"]
    drained = call(
        "post", "/api/agents/{agent_id}/drain", 200, caller="operator", agent_id="worker"
    )
    assert drained["draining"] is True and drained["draining_since"] is not None
    lifted = call(
        "post", "/api/agents/{agent_id}/undrain", 200, caller="operator", agent_id="worker"
    )
    same(lifted, {**drained, "draining": False, "draining_since": None})


@answering(
    "POST /api/message, POST /api/mailbox/evict, GET /api/mailbox/{agent_id},"
    "POST /api/mailbox/{agent_id}/ack, GET /api/messages, GET /api/threads/{message_id},"
    "GET /api/threads/{message_id}/replies, GET /api/threads/{message_id}/root"
)
def test_messages_mailboxes_and_threads(call, world):
    first, reply, post = world.first.id, world.reply.id, world.post.id
    mailbox = call("get", "/api/mailbox/{agent_id}", 200, caller="away", agent_id="away")
    assert [list(entry) for entry in mailbox["messages"]] == [[*MESSAGE_KEYS, "seq"]] * 3
    assert mailbox["messages"][1]["payload"] == {"channel": "builds"}
    last, ack = mailbox["last_seq"], "/api/mailbox/{agent_id}/ack"
    acked = call("post", ack, 200, caller="away", body={"seq": last}, agent_id="away")
    same(acked, {"status": "acked", "up_to": last})

    history = call("get", "/api/messages", 200)
    assert [list(item) for item in history["messages"]] == [[*MESSAGE_KEYS, "seq"]] * 3
    assert history["messages"][0]["payload"] == {"text": "hi", "n": 0.25}
    thread = call("get", "/api/threads/{message_id}", 200, message_id=first)
    assert [m["id"] for m in thread["messages"]] == [first, reply, post]
    assert "channel" not in thread["messages"][1] and thread["messages"][2]["channel"] == "builds"
    replies = call("get", "/api/threads/{message_id}/replies", 200, message_id=first)
    assert (replies["parent"], replies["count"]) == (first, 2)
    root = call("get", "/api/threads/{message_id}/root", 200, message_id=reply)
    same(root, {"message_id": reply, "root": first})

    sent = call("post", "/api/message", 200, body={"to": "away", "payload": {"text": "ping"}})
    same(sent, {"status": "sent", "id": sent["id"]})
    evicted = call("post", "/api/mailbox/evict", 200, caller="operator")
    same(evicted, {"status": "eviction_triggered"})


@answering(
    "GET /api/channels, POST /api/channels, GET /api/channels/{channel},"
    "POST /api/channels/{channel}/subscribe, POST /api/channels/{channel}/unsubscribe,"
    "POST /api/channels/{channel}/publish, GET /api/channels/{channel}/history"
)
def test_channels(call, world):
    created_at = to_ms(world.post.channel.created_at)
    builds = {"name": "builds", "description": "CI results"}
    listed = call("get", "/api/channels", 200)
    same(listed, {"channels": [{**builds, "subscriber_count": 2, "created_at": created_at}]})
    made = call("post", "/api/channels", 201, body={"name": "#Deploys", "description": "prod"})
    same(made, {"status": "created", "channel": "#Deploys"})
    detail = call("get", "/api/channels/{channel}", 200, channel="builds")
    subscribers = {"subscribers": ["away", "worker"], "subscriber_count": 2}
    same(detail, {**builds, **subscribers, "created_at": created_at, "created_by": "worker"})
    history = call("get", "/api/channels/{channel}/history", 200, channel="builds")
    assert [list(entry) for entry in history["messages"]] == [["seq", "message", "stored_at"]]
    stored = [*MESSAGE_KEYS, "channel", "message_type"]
    assert list(history["messages"][0]["message"]) == stored

    joined = call("post", "/api/channels/{channel}/subscribe", 200, channel="Builds")
    same(joined, {"status": "already_subscribed", "channel": "Builds"})
    body = {"payload": {"n": 1}, "type": "ci"}
    published = call("post", "/api/channels/{channel}/publish", 200, channel="builds", body=body)
    same(published, {"status": "published", "seq": 2, "id": published["id"]})
    left = call("post", "/api/channels/{channel}/unsubscribe", 200, channel="builds")
    same(left, {"status": "unsubscribed", "channel": "builds"})


@answering(
    "GET /api/config/default-repo, PUT /api/config/default-repo,"
    "GET /api/config/heartbeat-interval, PUT /api/config/heartbeat-interval,"
    "GET /api/config/mailbox-retention, PUT /api/config/mailbox-retention"
)
def test_config(call):
    repo = "https://example.org/team/repo.git"
    unset = call("get", "/api/config/default-repo", 200)
    same(unset, {"default_repo": None, "configured": False})
    put = call("put", "/api/config/default-repo", 200, caller="operator", body={"url": repo})
    same(put, {"status": "ok", "default_repo": repo})
    for path, key, default, new in (
        ("/api/config/heartbeat-interval", "heartbeat_interval_ms", 900_000, 30_000),
        ("/api/config/mailbox-retention", "mailbox_ttl_ms", 604_800_000, 3_600_000),
    ):
        same(call("get", path, 200), {key: default})
        put = call("put", path, 200, caller="operator", body={key: new})
        same(put, {"status": "updated", key: new})


@answering(
    "GET /api/analytics/summary, GET /api/analytics/agents,"
    "GET /api/analytics/agents/{agent_id}/hourly, GET /api/dashboard/state"
)
def test_analytics_and_dashboard(call):
    summary = call("get", "/api/analytics/summary", 200)
    assert (summary["total_agents"], summary["agents_connected"]) == (3, 2)
    figures = call("get", "/api/analytics/agents", 200)["agents"]
    assert [figure["agent_id"] for figure in figures] == ["away", "idle-one", "worker"]
    hourly = call("get", "/api/analytics/agents/{agent_id}/hourly", 200, agent_id="worker")
    assert len(hourly["hourly"]) == 24
    state = call("get", "/api/dashboard/state", 200, caller="operator")
    assert state["recent_completions"][0]["pr_url"] == "https://example.org/pr/1"


@answering(
    "GET /api/alerts, GET /api/alerts/{alert_id}, POST /api/alerts/{alert_id}/ack, "
    "GET /api/alerts/settings, PUT /api/alerts/settings, GET /api/webhooks, "
    "POST /api/webhooks, DELETE /api/webhooks/{webhook_id}, GET /api/webhooks/deliveries"
)
def test_operations(call, world):
    hook = call("post", "/api/webhooks", 201, caller="operator", body={"url": "http://h.test/"})
    assert call("get", "/api/webhooks", 200, caller="operator")["count"] == 1
    queue.submit_task(description="x", submitted_by="worker", needed_capabilities=["quantum"])
    alerts.run_round()
    listed = call("get", "/api/alerts", 200, caller="operator", query="state=open")
    alert_id = listed["alerts"][0]["id"]
    assert call("get", "/api/alerts/{alert_id}", 200, caller="operator", alert_id=alert_id)
    acked = call("post", "/api/alerts/{alert_id}/ack", 200, caller="operator", alert_id=alert_id)
    assert acked["state"] == "acknowledged"
    deliveries = call("get", "/api/webhooks/deliveries", 200, caller="operator")["deliveries"]
    assert deliveries[0]["event"] == "alert.acknowledged"
    assert call("get", "/api/alerts/settings", 200, caller="operator")["effective"]
    changed = call("put", "/api/alerts/settings", 200, caller="operator", body={"cooldown_s": 5})
    assert changed["overrides"]["cooldown_s"] == 5
    gone = call(
        "delete", "/api/webhooks/{webhook_id}", 200, caller="operator", webhook_id=hook["id"]
    )
    assert gone == {"status": "deleted", "id": hook["id"]}


def test_refusals(call, world, settings):
    unknown, done = "task-0000000000000000", world.done.id
    hint = "provide Authorization: Bearer <token>"
    nobody = call("get", "/api/agents", 401, caller="nobody")
    same(nobody, {"error": "unauthorized", "detail": "a valid token is required", "hint": hint})
    agent = call("get", "/admin/tokens", 403)
    same(agent, {"error": "forbidden", "detail": "this route is for operators"})
    missing = call("get", "/api/tasks/{task_id}", 404, task_id=unknown)
    same(missing, {"error": "task_not_found", "detail": f"no task {unknown}", "task_id": unknown})
    finished = call("post", "/api/tasks/{task_id}/retry", 409, task_id=done)
    detail = f"task {done} is completed; only dead-letter tasks can be retried"
    conflict = {"error": "invalid_state", "detail": detail}
    same(finished, {**conflict, "task_id": done, "status": "completed"})
    invalid = call("post", "/api/tasks", 422, body={"description": "x", "priority": "soon"})
    assert list(invalid) == ["error", "detail", "errors"]
    assert list(invalid["errors"][0]) == ["field", "error", "detail"]

    assert call("get", "/api/tasks", 422, query="limit=0")["errors"][0]["field"] == "limit"
    assert call("post", "/api/tasks", 400, raw=("{", "application/json"))["error"] == "invalid_json"
    assert call("post", "/api/tasks", 415, raw=("<a/>", "application/xml"))["error"] == (
        "unsupported_media_type"
    )
    assert call("get", "/api/threads/{message_id}", 404, message_id="0" * 16)["message_id"]
    assert call("post", "/api/channels", 409, body={"name": "builds"})["error"] == "channel_exists"
    subscribe = "/api/channels/{channel}/subscribe"
    assert call("post", subscribe, 403, caller="operator", channel="builds")["detail"]
    stranger = {"agent_id": "worker", "join_key": "guess"}
    assert call("post", "/api/onboard/register", 403, caller="nobody", body=stranger)
    taken = {"agent_id": "worker", "join_key": JOIN_KEY}
    assert call("post", "/api/onboard/register", 409, caller="nobody", body=taken)
    settings.AGENTCOM_MAX_FRAME_BYTES = 16
    too_long = call("post", "/api/tasks", 413, body={"description": "far too long"})
    assert too_long["error"] == "payload_too_large"
