"""Registered repos with real processes: a real hub, a real sidecar working in the
workspace of the task's repo (cloned from a bare origin over file://, then reused and
fetched), a paused repo's task waiting until it is resumed, and a repo's daily budget
holding its tasks (failed attempts' cost included) until an operator raises it."""

import json
from pathlib import Path

import pytest

from tests.e2e.agents import wait_until
from tests.e2e.harness import AgentClient
from tests.sidecar.harness import PYTHON, SidecarProcess, fast_config, git

pytestmark = pytest.mark.e2e

# The agent: reports where it ran and what it found checked out there.
WHERE_AGENT = """
import json, os, subprocess, sys
def git(*args):
    return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()
result = {"status": "success", "cwd": os.getcwd(), "head": git("rev-parse", "HEAD"),
          "branch": git("rev-parse", "--abbrev-ref", "HEAD"), "cost_usd": 0.25}
with open(os.path.join(sys.argv[1], sys.argv[2] + ".json"), "w") as out:
    json.dump(result, out)
"""


def origin_with_develop(directory: Path) -> tuple[Path, Path]:
    """A bare origin with `main` and `develop` (one commit more), and a clone to push from."""
    origin = directory / "x-origin.git"
    git(directory, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    pusher = directory / "pusher"
    git(directory, "clone", "--quiet", str(origin), str(pusher))
    git(pusher, "checkout", "--quiet", "-B", "main")
    (pusher / "README.md").write_text("hello\n")
    git(pusher, "add", "README.md")
    git(pusher, "commit", "--quiet", "-m", "chore: start")
    git(pusher, "push", "--quiet", "origin", "main")
    git(pusher, "checkout", "--quiet", "-b", "develop")
    push_commit(pusher, "feat: develop only")
    return origin, pusher


def push_commit(pusher: Path, subject: str) -> str:
    (pusher / "log.txt").open("a").write(subject + "\n")
    git(pusher, "add", "log.txt")
    git(pusher, "commit", "--quiet", "-m", subject)
    git(pusher, "push", "--quiet", "origin", "develop")
    return git(pusher, "rev-parse", "HEAD")


async def _finished(hub, token, task_id) -> dict:
    async def done():
        status, record = await hub.ahttp("GET", f"/api/tasks/{task_id}", None, token)
        return status == 200 and record["status"] in ("completed", "dead_letter")

    await wait_until(done, timeout=60)
    return (await hub.ahttp("GET", f"/api/tasks/{task_id}", None, token))[1]


async def test_a_task_of_a_registered_repo_runs_in_its_workspace_cloned_once(
    backend, start_hub, tmp_path
):
    origin, pusher = origin_with_develop(tmp_path)
    hub = start_hub()
    ops = backend.operator_token()
    token = backend.create_agent("builder", ["code"])
    status, repo = await hub.ahttp(
        "POST",
        "/api/repos",
        {"name": "x", "url": f"file://{origin}", "default_branch": "develop"},
        ops,
    )
    assert status == 201 and repo["default_branch"] == "develop"
    directory = tmp_path / "builder"
    directory.mkdir()
    command = [PYTHON, "-c", WHERE_AGENT, "{results_dir}", "{task_id}"]
    config = fast_config(
        hub.ws_url,
        agent_id="builder",
        token=token,
        capabilities=["code"],
        wake_command=None,
        executor="shell",
        executor_command=command,
    )
    sidecar = SidecarProcess(directory, config).start()
    try:
        develop_head = git(origin, "rev-parse", "develop")
        first = await _submit(hub, ops, {"description": "First change", "repo": "x"})
        record = await _finished(hub, ops, first)

        workspace = Path(record["result"]["cwd"])
        assert record["status"] == "completed", record
        assert workspace.parent == directory / "workspaces"
        assert record["result"]["head"] == develop_head  # branched from X's default branch
        assert record["result"]["branch"] not in ("develop", "main", "HEAD")
        assert git(workspace, "remote", "get-url", "origin") == f"file://{origin}"
        marker = workspace / ".git" / "first-clone"
        marker.write_text("still here\n")

        newer = push_commit(pusher, "feat: newer develop")
        second = await _submit(hub, ops, {"description": "Second change", "repo": "x"})
        record = await _finished(hub, ops, second)

        assert record["status"] == "completed", record
        assert record["result"]["cwd"] == str(workspace) and marker.exists()  # not cloned again
        assert record["result"]["head"] == newer  # fetched before the task
        events = [json.loads(line)["event"] for line in sidecar.log_file.read_text().splitlines()]
        assert events.count("workspace_cloned") == 1
        assert events.count("workspace_reused") == 1
        assert list((directory / "workspaces").iterdir()) == [workspace]
    finally:
        await sidecar.stop()


async def _submit(hub, token, body: dict) -> str:
    status, answer = await hub.ahttp("POST", "/api/tasks", body, token)
    assert status == 201, answer
    return answer["task_id"]


async def _reasons(hub, token, task_id) -> list[str]:
    status, answer = await hub.ahttp("GET", f"/api/tasks/{task_id}/explain", None, token)
    assert status == 200, answer
    return [reason["code"] for reason in answer["reasons"]]


async def _no_assign(agent: AgentClient, seconds: float = 1.0) -> None:
    with pytest.raises(TimeoutError):
        await agent.recv_type("task_assign", timeout=seconds)


async def _finish(agent: AgentClient, frame: dict, kind: str, **extra) -> dict:
    task_id, generation = frame["task_id"], frame["generation"]
    await agent.ask({"type": "task_accepted", "task_id": task_id}, "task_ack")
    body = {"type": kind, "task_id": task_id, "generation": generation, **extra}
    return await agent.ask(body, "task_ack")


async def test_a_paused_repo_holds_its_tasks_until_resumed(backend, start_hub):
    hub = start_hub()
    ops = backend.operator_token()
    token = backend.create_agent("worker", ["code"])
    agent = await AgentClient(hub, "worker", token, ["code"]).connect()
    repo = {"name": "y", "url": "https://git.example.com/acme/y.git"}
    assert (await hub.ahttp("POST", "/api/repos", repo, ops))[0] == 201
    status, paused = await hub.ahttp("POST", "/api/repos/y/pause", {"reason": "freeze"}, ops)
    assert status == 200 and paused["paused"] and paused["changed"]

    task_id = await _submit(hub, ops, {"description": "Held work", "repo": "y"})
    await _no_assign(agent)
    assert await _reasons(hub, ops, task_id) == ["repo_paused"]
    status, answer = await hub.ahttp("GET", f"/api/tasks/{task_id}/explain", None, ops)
    assert "freeze" in answer["reasons"][0]["message"]

    status, resumed = await hub.ahttp("POST", "/api/repos/y/resume", None, ops)
    assert status == 200 and not resumed["paused"]
    frame = await agent.recv_type("task_assign")
    assert frame["task_id"] == task_id
    assert frame["repo_url"] == repo["url"] and frame["branch"] == "main"
    await agent.close()


async def test_a_repo_at_its_budget_holds_its_tasks_until_the_budget_is_raised(backend, start_hub):
    hub = start_hub()
    ops = backend.operator_token()
    token = backend.create_agent("worker", ["code"])
    agent = await AgentClient(hub, "worker", token, ["code"]).connect()
    repo = {"name": "z", "url": "git@git.example.com:acme/z.git", "daily_budget_usd": 1.0}
    assert (await hub.ahttp("POST", "/api/repos", repo, ops))[0] == 201

    # One attempt fails (it still cost 0.5), the retry completes for 0.6: 1.1 of 1.0.
    first = await _submit(hub, ops, {"description": "Spend", "repo": "z", "max_retries": 3})
    frame = await agent.recv_type("task_assign")
    failed = await _finish(agent, frame, "task_failed", error="tests red", cost_usd=0.5)
    assert failed["status"] == "retried"
    frame = await agent.recv_type("task_assign")
    assert frame["task_id"] == first
    await _finish(agent, frame, "task_complete", result={}, cost_usd=0.6, tokens_in=10)

    held = await _submit(hub, ops, {"description": "Over budget", "repo": "z"})
    await _no_assign(agent)
    assert await _reasons(hub, ops, held) == ["repo_budget"]
    status, answer = await hub.ahttp("GET", "/api/repos/z", None, ops)
    assert answer["spent_today_usd"] == pytest.approx(1.1) and answer["budget_reached"]

    other = await _submit(hub, ops, {"description": "Another repo's work", "repo": "elsewhere"})
    frame = await agent.recv_type("task_assign")
    assert frame["task_id"] == other  # only z's tasks wait
    await _finish(agent, frame, "task_complete", result={}, cost_usd=0.1)

    status, raised = await hub.ahttp("PATCH", "/api/repos/z", {"daily_budget_usd": 5}, ops)
    assert status == 200 and not raised["budget_reached"]
    frame = await agent.recv_type("task_assign")
    assert frame["task_id"] == held

    status, costs = await hub.ahttp("GET", "/api/costs?by=repo", None, ops)
    by_repo = {g["key"]: g for g in costs["groups"]}
    assert by_repo["z"]["cost_usd"] == pytest.approx(1.1)
    assert (by_repo["z"]["tasks"], by_repo["z"]["failed"]) == (1, 1)
    assert by_repo["elsewhere"]["cost_usd"] == pytest.approx(0.1)
    status, costs = await hub.ahttp("GET", "/api/costs?by=agent", None, ops)
    assert costs["groups"] == [
        {**costs["groups"][0], "key": "worker", "cost_usd": pytest.approx(1.2)}
    ]
    await agent.close()
