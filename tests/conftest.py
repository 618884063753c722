"""Shared fixtures: named agents, tokens, tasks and staff built through the real services,
a fresh channel layer per test, JSON clients per role, and end-to-end backends."""

import copy
import json
import logging
import os
import secrets

import pytest
from channels.layers import channel_layers, get_channel_layer
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from agentcom_site.core import ratelimit
from agents import services, tokens
from agents.models import Agent
from tasks import queue
from tasks.models import Task
from tests.e2e.harness import Backend, HubProcess

SCALED = os.getenv("AGENTCOM_TEST_SCALED") == "1"
pytest_plugins = ["tests.browsers"]


# --- the test database ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """On Postgres, commits of the test database do not wait for the disk: nothing in it
    needs to survive a crash, and every transactional test commits many times."""
    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            name = connection.ops.quote_name(connection.settings_dict["NAME"])
            cursor.execute(f"ALTER DATABASE {name} SET synchronous_commit TO off")
    yield
    if connection.vendor == "postgresql":
        # Threads of in-process servers and executors can still hold a session: the drop
        # that follows would fail ("being accessed by other users") and leave the database
        # on the server. Every session on it is this run's, so end them first.
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(scope="session", autouse=True)
def flush_by_delete_on_postgres():
    """A transactional test ends with a flush of every table. Postgres's TRUNCATE makes new
    files for each of ~25 tables (about 0.7 s on a busy machine); deleting the few rows a
    test leaves takes milliseconds. Foreign keys are DEFERRABLE INITIALLY DEFERRED, so the
    order of the deletes does not matter."""
    if connection.vendor != "postgresql":
        yield
        return
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if reset_sequences or allow_cascade or not tables:
            return truncate(
                self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        deletes = [f"DELETE FROM {self.quote_name(table)};" for table in tables]
        return ["SET CONSTRAINTS ALL DEFERRED;", *deletes]

    DatabaseOperations.sql_flush = sql_flush
    yield
    DatabaseOperations.sql_flush = truncate


@pytest.fixture
def make_agent(db):
    def make(agent_id: str = "agent-1", *, capabilities=(), online: bool = False) -> Agent:
        agent, _ = services.ensure_agent(agent_id, capabilities=list(capabilities))
        if online:
            bring_online(agent)
        return agent

    return make


def bring_online(agent: Agent, channel_name: str | None = None) -> Agent:
    """What identify does to the row, without a socket: idle and reachable."""
    agent.refresh_from_db()
    agent.come_online(holding=None)
    agent.channel_name = channel_name or f"test.{agent.agent_id}"
    agent.save()
    return agent


@pytest.fixture
def agent_token(db):
    def issue(agent: Agent) -> str:
        return tokens.issue_agent_token(agent)[1]

    return issue


@pytest.fixture
def operator_token(db) -> str:
    return tokens.issue_operator_token("ops")[1]


@pytest.fixture
def submit(db):
    def make(description: str = "do the thing", **fields) -> Task:
        fields.setdefault("submitted_by", "tester")
        task, _ = queue.submit_task(description=description, **fields)
        return task

    return make


def assign(task_id: str, agent: Agent) -> Task:
    """Assign task_id to agent, unless the scheduler already has: in a transactional test
    on Redis, a submit is placed at once by its after-commit listener."""
    try:
        return queue.assign_task(task_id, agent.pk)
    except queue.ClaimLost:
        task = Task.objects.get(pk=task_id)
        assert task.holder_id == agent.pk, f"{task_id} was placed with agent {task.holder_id}"
        return task


@pytest.fixture
def assigned(make_agent, submit):
    """A task assigned to an online agent: (task, agent)."""

    def make(agent_id: str = "holder", **fields) -> tuple[Task, Agent]:
        agent = make_agent(agent_id, online=True)
        task = submit(**fields)
        assign(task.id, agent)
        task.refresh_from_db()
        agent.refresh_from_db()
        return task, agent

    return make


@pytest.fixture(autouse=True)
def root_log_level():
    """`PUT /api/admin/log-level` sets this process's root level; a test that calls it
    (or a schema fuzzer) must not silence the logs the tests after it read."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


@pytest.fixture(autouse=True)
def fresh_rate_buckets(settings):
    """Every test starts with full buckets: the in-memory store outlives a test, and with
    Redis the buckets live under a prefix of the test's own."""
    ratelimit.memory.clear()
    settings.AGENTCOM_RATE_PREFIX = f"agentcom-test-{secrets.token_hex(4)}:rate"
    yield
    ratelimit.memory.clear()


@pytest.fixture(autouse=True)
async def fresh_channel_layer(settings):
    """A channel layer per test: channels-redis binds its connections to one event loop.

    With Redis the prefix is the test's own, so neither another test run on the same
    Redis nor this test's flush can reach another test's groups.
    """
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    config = layers["default"].get("CONFIG", {})
    if "hosts" in config:
        config["prefix"] = f"agentcom-test-{secrets.token_hex(4)}"
        settings.CHANNEL_LAYERS = layers
    channel_layers.backends.clear()
    yield
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        await layer.flush()
    channel_layers.backends.clear()


# --- rate limits small enough to reach in a test --------------------------------------------

RATE_WEIGHTS = {
    "read": 1,
    "message": 2,
    "publish": 2,
    "broadcast": 10,
    "submit": 2,
    "register": 20,
    "progress": 1,
    "join_failure": 1,
}


@pytest.fixture
def small_rate_budgets(settings):
    """Budgets that a test spends in a few calls, refilled so slowly that nothing comes
    back meanwhile; returns the settings for further changes."""
    settings.AGENTCOM_RATE_BUDGETS = {
        "default": (10, 0.01),
        "lifecycle": (3, 0.01),
        "join": (3, 0.05),
    }
    settings.AGENTCOM_RATE_WEIGHTS = dict(RATE_WEIGHTS)
    return settings


# --- operators ---------------------------------------------------------------------------


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("ops", password="pw-ops-123", is_staff=True)


@pytest.fixture
def staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def session_cookie(staff) -> str:
    """`sessionid=…` of a logged-in staff user, for socket handshakes."""
    client = Client()
    client.force_login(staff)
    return f"sessionid={client.cookies['sessionid'].value}"


# --- JSON clients per role ----------------------------------------------------------------


class Api:
    """A Django test client that speaks JSON and returns (status, body)."""

    def __init__(self, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = Client(headers=headers)

    def get(self, path: str, **params) -> tuple[int, dict]:
        response = self.client.get(path, params)
        return response.status_code, response.json()

    def send(self, method: str, path: str, body=None) -> tuple[int, dict]:
        data = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        response = self.client.generic(method, path, data or "", content_type="application/json")
        return response.status_code, response.json()

    def post(self, path: str, body=None) -> tuple[int, dict]:
        return self.send("POST", path, body)

    def put(self, path: str, body=None) -> tuple[int, dict]:
        return self.send("PUT", path, body)


@pytest.fixture
def api_for(make_agent, agent_token):
    """api_for("alpha") -> an Api acting as that agent (created if needed)."""

    def build(agent_id: str, *, online: bool = False) -> Api:
        return Api(agent_token(make_agent(agent_id, online=online)))

    return build


@pytest.fixture
def ops(operator_token) -> Api:
    return Api(operator_token)


# --- end to end: real hub processes --------------------------------------------------------


@pytest.fixture
def backend(tmp_path):
    """The test's own database (and Redis prefix in the scaled run) for hub processes."""
    backend = Backend(tmp_path)
    yield backend
    backend.drop()


@pytest.fixture
def start_hub(backend):
    """start_hub(**env) -> a running HubProcess; all are stopped at the end."""
    started: list[HubProcess] = []

    def start(env: dict[str, str] | None = None, **kwargs) -> HubProcess:
        hub = HubProcess(backend, env=env, name=f"proc{len(started)}", **kwargs).start()
        started.append(hub)
        return hub

    yield start
    for hub in reversed(started):
        hub.stop()
