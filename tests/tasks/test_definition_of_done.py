"""What "done" means: the task fields on submit and batch, who may set command steps, the
complexity estimate, and task_assign carrying them to a real agent socket."""

import json

import pytest
from django.test import Client

from tasks import complexity, scheduler
from tasks.models import Task, TaskEvent
from tests.sockets import agent_socket, db

pytestmark = pytest.mark.django_db

FULL = {
    "description": "Fix the login redirect",
    "repo": "https://github.com/acme/shop.git",
    "branch": "release/2.1",
    "file_hints": ["src/login.py", "tests/test_login.py"],
    "success_criteria": "Logging in lands on the page asked for.",
    "verification_steps": [
        {"type": "tests_pass", "command": "pytest -q tests/test_login.py"},
        {"type": "command_succeeds", "command": "ruff check .", "timeout_s": 60},
        {"type": "file_exists", "path": "src/login.py"},
        {"type": "git_clean"},
        {"type": "diff_within", "paths": ["src/**", "tests/**"]},
    ],
    "max_verification_retries": 3,
    "complexity": "standard",
}
SAFE_STEPS = [
    {"type": "file_exists", "path": "README.md"},
    {"type": "git_clean"},
    {"type": "diff_within", "paths": ["docs/*.md"]},
]


@pytest.fixture
def agent_client(make_agent, agent_token):
    return Client(headers={"Authorization": f"Bearer {agent_token(make_agent('ci-bot'))}"})


@pytest.fixture
def ops_client(operator_token):
    return Client(headers={"Authorization": f"Bearer {operator_token}"})


def post(client: Client, path: str, body) -> tuple[int, dict]:
    response = client.post(path, json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def test_an_operator_submits_every_field_and_reads_it_back(ops_client):
    status, body = post(ops_client, "/api/tasks", FULL)
    assert status == 201
    task = ops_client.get(f"/api/tasks/{body['task_id']}").json()
    for field in ("repo", "branch", "file_hints", "success_criteria", "verification_steps"):
        assert task[field] == FULL[field], field
    assert task["max_verification_retries"] == 3
    assert (task["complexity"], task["complexity_estimated"]) == ("standard", False)
    assert task["complexity_reason"] == "given by the submitter"


def test_without_a_complexity_the_hub_estimates_it_and_says_why(agent_client):
    body = {"description": "Refactor the session store across services", "file_hints": ["a"]}
    status, answer = post(agent_client, "/api/tasks", body)
    assert status == 201
    task = Task.objects.get(pk=answer["task_id"])
    assert task.complexity_estimated is True
    assert (task.complexity, task.complexity_reason) == complexity.estimate(body["description"])
    assert "across, refactor" in task.complexity_reason
    plain = Task.objects.get(
        pk=post(agent_client, "/api/tasks", {"description": "x"})[1]["task_id"]
    )
    assert (plain.complexity, plain.file_hints, plain.verification_steps) == ("standard", [], [])
    assert (plain.repo, plain.branch, plain.max_verification_retries) == ("", "", 2)


@pytest.mark.parametrize("kind", ["tests_pass", "command_succeeds"])
def test_an_agent_may_not_set_command_steps(agent_client, kind):
    step = {"type": kind, "command": "make check", "timeout_s": 30}
    status, body = post(
        agent_client, "/api/tasks", {"description": "x", "verification_steps": [step]}
    )
    assert (status, body["error"]) == (403, "command_steps_forbidden")
    assert "operator" in body["detail"]
    batch = {"tasks": [{"description": "fine"}, {"description": "x", "verification_steps": [step]}]}
    status, body = post(agent_client, "/api/tasks/batch", batch)
    assert (status, body["error"]) == (403, "command_steps_forbidden")
    assert body["detail"].startswith("tasks[1].verification_steps")
    assert Task.objects.count() == 0 and TaskEvent.objects.count() == 0


def test_an_agent_may_set_steps_that_run_no_command(agent_client):
    status, body = post(
        agent_client, "/api/tasks", {"description": "x", "verification_steps": SAFE_STEPS}
    )
    assert status == 201
    assert Task.objects.get(pk=body["task_id"]).verification_steps == SAFE_STEPS


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"repo": "ext::sh -c touch% /tmp/x"}, "repo"),
        ({"repo": "-uhttps://x/y"}, "repo"),
        ({"repo": "file:///etc/passwd"}, "repo"),
        ({"repo": "https://user:secret@example.com/a.git"}, "repo"),
        ({"repo": "https://x/" + "a" * 2000}, "repo"),
        ({"branch": "a..b"}, "branch"),
        ({"branch": "-f"}, "branch"),
        ({"branch": "feat ure"}, "branch"),
        ({"branch": "x~1"}, "branch"),
        ({"branch": "x.lock"}, "branch"),
        ({"file_hints": ["../secrets"]}, "file_hints[0]"),
        ({"file_hints": ["/etc/passwd"]}, "file_hints[0]"),
        ({"file_hints": ["ok", "a/../../b"]}, "file_hints[1]"),
        ({"file_hints": ["f"] * 51}, "file_hints"),
        ({"success_criteria": "x" * 10_001}, "success_criteria"),
        ({"verification_steps": [{"type": "git_clean"}] * 21}, "verification_steps"),
        ({"verification_steps": [{"type": "rm_rf"}]}, "verification_steps[0]"),
        ({"verification_steps": [{"type": ["git_clean"]}]}, "verification_steps[0]"),
        ({"verification_steps": [["git_clean"]]}, "verification_steps[0]"),
        ({"verification_steps": [{"type": "file_exists", "path": "../x"}]}, None),
        ({"verification_steps": [{"type": "diff_within", "paths": []}]}, None),
        ({"max_verification_retries": 11}, "max_verification_retries"),
        ({"max_verification_retries": -1}, "max_verification_retries"),
        ({"complexity": "huge"}, "complexity"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(ops_client, fields, field):
    status, body = post(ops_client, "/api/tasks", {"description": "x", **fields})
    assert (status, body["error"]) == (422, "validation_failed")
    if field is not None:
        assert body["errors"][0]["field"] == field
    else:
        assert body["errors"][0]["field"].startswith("verification_steps[0].")
    assert Task.objects.count() == 0


@pytest.mark.parametrize(
    "step",
    [
        {"type": "command_succeeds", "command": "make", "timeout_s": 0},
        {"type": "command_succeeds", "command": "make", "timeout_s": 3601},
        {"type": "command_succeeds", "command": "make"},
        {"type": "tests_pass", "command": "x" * 2001},
        {"type": "tests_pass", "command": "make\x1b[2J"},
        {"type": "tests_pass", "command": "   "},
    ],
)
def test_bad_command_steps_are_refused_even_for_operators(ops_client, step):
    status, body = post(
        ops_client, "/api/tasks", {"description": "x", "verification_steps": [step]}
    )
    assert status == 422 and body["errors"][0]["field"].startswith("verification_steps[0].")
    assert Task.objects.count() == 0


@pytest.mark.parametrize(
    "repo", ["shop", "acme/shop", "git@github.com:acme/shop.git", "ssh://git@host:22/a/b.git"]
)
def test_repo_names_and_git_urls_are_taken(ops_client, repo):
    assert post(ops_client, "/api/tasks", {"description": "x", "repo": repo})[0] == 201


def test_complexity_rule_is_deterministic_and_explained():
    assert complexity.estimate("Fix a typo in the README")[0] == "trivial"
    assert complexity.estimate("Add a login page")[0] == "standard"
    level, reason = complexity.estimate("x" * 2500, "", 12, 6)
    assert level == "complex" and "12 file hints (+2)" in reason
    assert complexity.estimate("Rename a var; refactor later")[0] == "standard"  # broad wins


# --- task_assign carries the definition to the agent ----------------------------------


@pytest.fixture
async def running_scheduler():
    loop = scheduler.install_local_loop()
    yield loop
    await loop.stop()
    scheduler.uninstall_local_loop()


@db
def _agent_token() -> str:
    from agents import services, tokens

    agent, _ = services.ensure_agent("worker")
    return tokens.issue_agent_token(agent)[1]


@db
def _submit_full() -> str:
    from agentcom_site.core.validation import validate
    from tasks import intake
    from tasks.schemas import TaskSubmitIn

    task, _ = intake.submit(validate(TaskSubmitIn, FULL), submitted_by="operator:ops")
    return task.id


@pytest.mark.django_db(transaction=True)
async def test_task_assign_carries_the_definition_of_done(running_scheduler):
    sock = await agent_socket("worker", await _agent_token())
    task_id = await _submit_full()
    frame = await sock.recv_type("task_assign")
    assert frame["task_id"] == task_id
    for field in ("repo", "branch", "file_hints", "success_criteria", "verification_steps"):
        assert frame[field] == FULL[field], field
    assert frame["max_verification_retries"] == 3 and frame["complexity"] == "standard"
    await sock.close()


def test_lists_leave_the_long_fields_to_the_task_itself(ops_client):
    """200 summaries of 20 long steps each would pass the response cap: lists omit them."""
    post(ops_client, "/api/tasks", FULL)
    (summary,) = ops_client.get("/api/tasks").json()["tasks"]
    assert summary["repo"] == FULL["repo"] and summary["complexity"] == "standard"
    for field in ("file_hints", "success_criteria", "verification_steps"):
        assert summary[field] is None, field


def test_push_task_takes_the_definition_too(ops_client, make_agent):
    make_agent("idle-one", online=True)
    status, body = post(ops_client, "/api/admin/push-task", {"agent_id": "idle-one", **FULL})
    assert status == 200
    task = Task.objects.get(pk=body["task_id"])
    assert task.verification_steps == FULL["verification_steps"] and task.branch == "release/2.1"
    assert (task.complexity, task.complexity_estimated) == ("standard", False)
    status, bad = post(
        ops_client, "/api/admin/push-task", {"agent_id": "idle-one", **FULL, "branch": "-x"}
    )
    assert status == 422 and bad["errors"][0]["field"] == "branch"
