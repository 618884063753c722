"""Who may call what: every HTTP route and every socket frame, for every kind of caller.

The routes come from `/api/openapi.json` and the frames from the socket registry, so a
new route or frame without a rule below fails `test_every_route_and_frame_has_a_rule`.
The rules are the auth column of PROTOCOL.md §4 (public, any, agent, self, op,
op-or-submitter, join key) and §2.1 (nothing but identify and ping before identify;
task frames only from the task's holder).
"""

import json
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from agentcom_site.api import api
from agentcom_site.core.frames import frame_handlers
from agents import tokens
from messaging import routing, topics
from tasks import queue, repos
from tasks.models import Task
from tests.sockets import Socket, db

JOIN_KEY_VALUE = "join-" + "k" * 24

PUBLIC, ANY, AGENT, SELF, OP, OP_OR_SUBMITTER, JOIN_KEY = (
    "public",
    "any",
    "agent",
    "self",
    "op",
    "op or submitter",
    "join key",
)

# (method, path) -> (rule, body). Path parameters name the resources made by `world`:
# {agent_id} and the task's submitter are the calling agent ("self") unless the caller
# acts on another agent's resource ("other").
ROUTES: dict[tuple[str, str], tuple[str, dict | None]] = {
    ("GET", "/health"): (PUBLIC, None),
    ("POST", "/api/onboard/register"): (
        JOIN_KEY,
        {"agent_id": "newcomer", "join_key": JOIN_KEY_VALUE},
    ),
    ("GET", "/api/dashboard/state"): (OP, None),
    ("POST", "/api/tasks"): (ANY, {"description": "x"}),
    ("GET", "/api/tasks"): (ANY, None),
    ("POST", "/api/tasks/batch"): (ANY, {"tasks": [{"description": "x"}]}),
    ("GET", "/api/tasks/dead-letter"): (ANY, None),
    ("GET", "/api/tasks/stats"): (ANY, None),
    ("GET", "/api/tasks/{task_id}"): (ANY, None),
    ("POST", "/api/tasks/{task_id}/retry"): (ANY, None),
    ("POST", "/api/tasks/{task_id}/cancel"): (OP_OR_SUBMITTER, {"reason": "r"}),
    ("POST", "/api/tasks/{task_id}/answer"): (OP, {"answer": "a"}),
    ("POST", "/api/admin/push-task"): (OP, {"agent_id": "owner", "description": "x"}),
    ("GET", "/api/tasks/{task_id}/explain"): (ANY, None),
    ("GET", "/api/dispatch"): (OP, None),
    ("GET", "/api/costs"): (OP, None),
    ("GET", "/api/repos"): (ANY, None),
    ("POST", "/api/repos"): (OP, {"name": "fresh", "url": "https://example.com/fresh.git"}),
    ("GET", "/api/repos/{name}"): (ANY, None),
    ("PATCH", "/api/repos/{name}"): (OP, {"daily_budget_usd": 5}),
    ("POST", "/api/repos/{name}/pause"): (OP, {"reason": "r"}),
    ("POST", "/api/repos/{name}/resume"): (OP, None),
    ("GET", "/api/budget"): (ANY, None),
    ("PUT", "/api/budget"): (OP, {"daily_budget_usd": 10}),
    ("POST", "/api/dispatch/pause"): (OP, {"capability": "gpu", "reason": "r"}),
    ("POST", "/api/dispatch/resume"): (OP, {"capability": "gpu", "reason": "r"}),
    ("PUT", "/api/dispatch/caps"): (OP, {"scope": "capability", "key": "gpu", "limit": 2}),
    ("POST", "/api/agents/{agent_id}/drain"): (OP, None),
    ("POST", "/api/agents/{agent_id}/undrain"): (OP, None),
    ("GET", "/api/admin/log-level"): (OP, None),
    ("PUT", "/api/admin/log-level"): (OP, {"level": "INFO"}),
    ("GET", "/api/agents"): (ANY, None),
    ("GET", "/api/agents/states"): (ANY, None),
    ("GET", "/api/agents/{agent_id}/state"): (ANY, None),
    ("GET", "/api/agents/{agent_id}/subscriptions"): (ANY, None),
    ("POST", "/admin/tokens"): (OP, {"agent_id": "newbie"}),
    ("GET", "/admin/tokens"): (OP, None),
    ("DELETE", "/admin/tokens/{agent_id}"): (SELF, None),
    ("POST", "/api/message"): (ANY, {"to": "stranger", "payload": {}}),
    ("POST", "/api/mailbox/evict"): (OP, None),
    ("GET", "/api/mailbox/{agent_id}"): (SELF, None),
    ("POST", "/api/mailbox/{agent_id}/ack"): (SELF, {"seq": 0}),
    ("GET", "/api/messages"): (ANY, None),
    ("GET", "/api/threads/{message_id}"): (ANY, None),
    ("GET", "/api/threads/{message_id}/replies"): (ANY, None),
    ("GET", "/api/threads/{message_id}/root"): (ANY, None),
    ("GET", "/api/channels"): (ANY, None),
    ("POST", "/api/channels"): (ANY, {"name": "fresh", "description": ""}),
    ("GET", "/api/channels/{channel}"): (ANY, None),
    ("POST", "/api/channels/{channel}/subscribe"): (AGENT, None),
    ("POST", "/api/channels/{channel}/unsubscribe"): (AGENT, None),
    ("POST", "/api/channels/{channel}/publish"): (ANY, {"payload": {}}),
    ("GET", "/api/channels/{channel}/history"): (ANY, None),
    ("GET", "/api/config/default-repo"): (ANY, None),
    ("PUT", "/api/config/default-repo"): (OP, {"url": "https://example.com/repo.git"}),
    ("GET", "/api/config/heartbeat-interval"): (ANY, None),
    ("PUT", "/api/config/heartbeat-interval"): (OP, {"heartbeat_interval_ms": 60000}),
    ("GET", "/api/config/mailbox-retention"): (ANY, None),
    ("PUT", "/api/config/mailbox-retention"): (OP, {"mailbox_ttl_ms": 3600000}),
    ("GET", "/api/analytics/summary"): (ANY, None),
    ("GET", "/api/analytics/agents"): (ANY, None),
    ("GET", "/api/analytics/agents/{agent_id}/hourly"): (ANY, None),
    ("GET", "/api/alerts"): (OP, None),
    ("GET", "/api/alerts/settings"): (OP, None),
    ("PUT", "/api/alerts/settings"): (OP, {"cooldown_s": 60}),
    ("GET", "/api/alerts/{alert_id}"): (OP, None),
    ("POST", "/api/alerts/{alert_id}/ack"): (OP, None),
    ("GET", "/api/webhooks"): (OP, None),
    ("POST", "/api/webhooks"): (OP, {"url": "https://hooks.example.com/x"}),
    ("DELETE", "/api/webhooks/{webhook_id}"): (OP, None),
    ("GET", "/api/webhooks/deliveries"): (OP, None),
}

CALLERS = (
    "anonymous",
    "agent on its own",
    "agent on another's",
    "revoked token",
    "operator token",
    "staff session",
    "non-staff session",
)
NOBODY = ("anonymous", "revoked token", "non-staff session")
OPERATORS = ("operator token", "staff session")

# Socket frames: allowed before identify, and those fenced to the task's holder.
BEFORE_IDENTIFY = {"identify", "ping"}
HOLDER_ONLY = {
    "task_accepted",
    "task_progress",
    "task_complete",
    "task_failed",
    "task_rejected",
    "task_classify",
    "state_report",
    "wake_result",
    "task_input_required",
}
FRAMES_SEEN_AS_ANY_AGENT = {
    "status",
    "list_agents",
    "message",
    "channel_subscribe",
    "channel_unsubscribe",
    "channel_publish",
    "channel_history",
    "list_channels",
    "task_recovering",
    "resource_report",
    "agent_restarting",
}


def expected(rule: str, caller: str) -> str:
    """ "allowed", "401" or "403" for a caller under a rule."""
    if rule in (PUBLIC, JOIN_KEY):
        return "allowed"
    if caller in NOBODY:
        return "401"
    if rule == ANY or caller in OPERATORS:
        return "403" if rule == AGENT and caller in OPERATORS else "allowed"
    if rule == OP:
        return "403"
    if rule in (SELF, OP_OR_SUBMITTER):
        return "allowed" if caller == "agent on its own" else "403"
    return "allowed"  # AGENT rule, an agent calling


@dataclass
class World:
    owner_token: str
    revoked_token: str
    operator_token: str
    task_id: str
    message_id: str


def world() -> World:
    owner, _ = _agent("owner")
    _agent("stranger")
    revoked_agent, _ = _agent("revoked")
    owner_token = tokens.issue_agent_token(owner)[1]
    revoked_token = tokens.issue_agent_token(revoked_agent)[1]
    tokens.revoke_agent_tokens("revoked")
    task, _ = queue.submit_task(description="owned", submitted_by="owner")
    topics.create_channel(name="general", description="", created_by="owner")
    repos.create(actor="ops", name="shop", url="https://example.com/shop.git")
    message = routing.send_message(sender="stranger", to="owner", payload={"hi": 1})
    return World(
        owner_token=owner_token,
        revoked_token=revoked_token,
        operator_token=tokens.issue_operator_token("ops")[1],
        task_id=task.id,
        message_id=message.id,
    )


def _agent(agent_id: str):
    from agents.services import ensure_agent

    return ensure_agent(agent_id)


def client_for(caller: str, state: World) -> Client:
    bearer = {
        "agent on its own": state.owner_token,
        "agent on another's": state.owner_token,
        "revoked token": state.revoked_token,
        "operator token": state.operator_token,
    }.get(caller)
    client = Client(headers={"Authorization": f"Bearer {bearer}"} if bearer else {})
    if caller in ("staff session", "non-staff session"):
        user = get_user_model().objects.create_user(
            "person", password="pw-person-123", is_staff=caller == "staff session"
        )
        client.force_login(user)
    return client


def fill(path: str, caller: str, state: World) -> str:
    subject = "stranger" if caller == "agent on another's" else "owner"
    if caller == "agent on another's" and "{task_id}" in path:
        # Another agent's task: one the stranger submitted.
        task, _ = queue.submit_task(description="theirs", submitted_by="stranger")
        path = path.replace("{task_id}", task.id)
    return (
        path.replace("{agent_id}", subject)
        .replace("{task_id}", state.task_id)
        .replace("{channel}", "general")
        .replace("{message_id}", state.message_id)
        .replace("{alert_id}", "1")
        .replace("{webhook_id}", "1")
        .replace("{name}", "shop")
    )


def openapi_routes() -> set[tuple[str, str]]:
    schema = api.get_openapi_schema()
    return {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}


@pytest.mark.django_db
def test_every_route_and_frame_has_a_rule():
    assert openapi_routes() == set(ROUTES)
    rules = BEFORE_IDENTIFY | HOLDER_ONLY | FRAMES_SEEN_AS_ANY_AGENT
    assert set(frame_handlers()) | {"ping"} == rules


@pytest.mark.django_db
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_http_route_answers_each_caller_as_documented(method, path, caller, settings):
    rule, body = ROUTES[(method, path)]
    settings.AGENTCOM_JOIN_KEY = JOIN_KEY_VALUE
    state = world()
    client = client_for(caller, state)

    response = client.generic(
        method,
        fill(path, caller, state),
        "" if body is None else json.dumps(body),
        content_type="application/json",
    )

    outcome = expected(rule, caller)
    if outcome == "allowed":
        assert response.status_code not in (401, 403), response.content
        assert response.status_code < 500, response.content
    else:
        assert response.status_code == int(outcome), response.content
        assert response.json()["error"] in ("unauthorized", "forbidden")


COMMAND_STEP = {"type": "tests_pass", "command": "make test", "timeout_s": 60}
WITH_COMMAND_STEP = {
    "/api/tasks": {"description": "x", "verification_steps": [COMMAND_STEP]},
    "/api/tasks/batch": {"tasks": [{"description": "x", "verification_steps": [COMMAND_STEP]}]},
}


@pytest.mark.django_db
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("path", sorted(WITH_COMMAND_STEP))
def test_only_operators_may_submit_steps_that_run_commands(path, caller):
    """Verification commands run with the agent machine's rights (PROTOCOL.md §4.5)."""
    state = world()
    before = Task.objects.count()
    response = client_for(caller, state).post(
        path, json.dumps(WITH_COMMAND_STEP[path]), content_type="application/json"
    )
    if caller in OPERATORS:
        assert response.status_code == 201, response.content
        assert Task.objects.count() == before + 1
        return
    expected_status = 401 if caller in NOBODY else 403
    assert response.status_code == expected_status, response.content
    if expected_status == 403:
        assert response.json()["error"] == "command_steps_forbidden"
    assert Task.objects.count() == before


FRAME_BODIES = {
    "status": {"status": "busy"},
    "message": {"to": "stranger", "payload": {}},
    "channel_subscribe": {"channel": "general"},
    "channel_unsubscribe": {"channel": "general"},
    "channel_publish": {"channel": "general", "payload": {}},
    "channel_history": {"channel": "general"},
    "task_recovering": {},
    "task_accepted": {"generation": 1},
    "task_progress": {"generation": 1},
    "task_complete": {"generation": 1, "result": {}},
    "task_failed": {"generation": 1, "error": "x"},
    "task_rejected": {"generation": 1},
    "task_classify": {
        "generation": 1,
        "diff": {"files_changed": 1, "lines_added": 1, "lines_removed": 0, "paths": ["a.py"]},
    },
    "state_report": {"generation": 1, "status": "working"},
    "wake_result": {"status": "success"},
    "task_input_required": {"generation": 1, "question": "which?"},
    "resource_report": {"cpu_percent": 5, "ram_used_bytes": 1, "ram_total_bytes": 2},
    "agent_restarting": {"reason": "upgrade"},
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", sorted(FRAMES_SEEN_AS_ANY_AGENT | HOLDER_ONLY))
async def test_no_frame_but_identify_and_ping_is_served_before_identify(kind):
    socket = await Socket().open()
    try:
        await socket.send(
            {"type": kind, "task_id": "task-0000000000000000", **FRAME_BODIES.get(kind, {})}
        )
        answer = await socket.recv()
        assert answer == {**answer, "type": "error", "error": "not_identified"}
    finally:
        await socket.comm.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", sorted(HOLDER_ONLY - {"wake_result"}))
async def test_task_frames_from_anyone_but_the_holder_are_refused(kind):
    state = await db(world)()
    holder, _ = await db(_agent)("holder")
    await db(lambda: queue.assign_task(state.task_id, _online(holder).pk))()
    held = "assigned"
    if kind == "task_input_required":  # only a working task may ask (§3.9)
        await db(lambda: queue.accept_task(state.task_id, holder))()
        held = "working"
    socket = await Socket().open()
    try:
        await socket.send({"type": "identify", "agent_id": "owner", "token": state.owner_token})
        assert (await socket.recv())["type"] == "identified"
        await socket.send({"type": kind, "task_id": state.task_id, **FRAME_BODIES[kind]})
        answer = await socket.recv()
        if kind == "state_report":  # §3.7: a report of a task one does not hold is aborted
            assert (answer["type"], answer["action"]) == ("state_report_ack", "abort")
        else:
            assert answer["type"] == "error"
            assert answer["error"].endswith("not_assignee"), answer
    finally:
        await socket.comm.disconnect()
    task = await db(lambda: Task.objects.select_related("holder").get(pk=state.task_id))()
    assert (task.status, task.holder.agent_id, task.generation) == (held, "holder", 1)


def _online(agent):
    from tests.conftest import bring_online

    return bring_online(agent)
