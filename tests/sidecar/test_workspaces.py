"""Workspaces: where a task with a repo_url works. Names that cannot leave the
workspaces directory, a clone on first use and reuse after, the git wrapper branching
there from the task's base, and a clone that fails or cannot finish failing the task
with a sidecar_error (a real sidecar process against a fake hub)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.config import load_config
from sidecar.workspaces import (
    WorkspaceError,
    ensure_workspace,
    task_workdir,
    workspace_dir,
    workspace_name,
)
from tests.sidecar.harness import PYTHON, TOKEN, fast_config, git, make_clone, task_assign


def config_at(directory: Path, **fields):
    raw = {"agent_id": "gcu-sleeper", "token": TOKEN, "hub_url": "ws://127.0.0.1:1/ws"}
    raw |= {"self_wake": True, **fields}
    (directory / "config.json").write_text(json.dumps(raw))
    return load_config(directory / "config.json")


@given(url=st.text(max_size=300) | st.sampled_from(["../../etc", "x/..", "/", "a/.git", ".."]))
def test_a_workspace_name_never_leaves_the_workspaces_directory(url):
    name = workspace_name(url)
    assert "/" not in name and "\\" not in name and name not in (".", "..")
    assert name[0].isalnum() or name[0] in "_" or name.startswith("repo-")
    assert len(name) <= 40 + 13


def test_two_urls_with_the_same_last_part_get_two_workspaces():
    first = workspace_name("https://a.example.com/x/shop.git")
    second = workspace_name("git@b.example.com:y/shop.git")
    assert first.startswith("shop-") and second.startswith("shop-") and first != second


async def test_a_workspace_is_cloned_once_and_reused(tmp_path):
    make_clone(tmp_path)
    config = config_at(tmp_path)
    url = f"file://{tmp_path / 'origin.git'}"

    directory, cloned = await ensure_workspace(config, url)
    again, cloned_again = await ensure_workspace(config, url)

    assert (cloned, cloned_again) == (True, False) and directory == again
    assert directory.parent == tmp_path / "workspaces"
    assert (directory / "README.md").read_text() == "hello\n"
    assert task_workdir(config, {"repo_url": url}) == directory
    assert task_workdir(config, {"repo_url": url, "workdir": "/kept"}) == Path("/kept")


async def test_a_failed_clone_leaves_nothing_and_says_why(tmp_path):
    config = config_at(tmp_path)
    url = f"file://{tmp_path / 'missing.git'}"
    with pytest.raises(WorkspaceError) as failed:
        await ensure_workspace(config, url)
    assert str(failed.value).startswith(f"sidecar_error: git clone of {url} failed: ")
    assert list((tmp_path / "workspaces").iterdir()) == []


async def test_a_transport_that_runs_a_program_is_refused(tmp_path):
    config = config_at(tmp_path)
    with pytest.raises(WorkspaceError):
        await ensure_workspace(config, f"ext::sh -c touch% {tmp_path / 'pwned'}")
    assert not (tmp_path / "pwned").exists()


def test_start_task_in_a_workdir_branches_from_its_base(tmp_path):
    clone = make_clone(tmp_path)
    git(clone, "checkout", "--quiet", "-b", "develop")
    (clone / "dev.txt").write_text("develop only\n")
    git(clone, "add", "dev.txt")
    git(clone, "commit", "--quiet", "-m", "feat: develop")
    git(clone, "push", "--quiet", "origin", "develop")
    git(clone, "checkout", "--quiet", "main")
    (tmp_path / "config.json").write_text(json.dumps({"hub_api_url": "http://hub"}))  # no repo_dir
    args = {"agent_id": "gcu", "task_id": "task-1", "description": "x", "workdir": str(clone)}

    def run(extra):
        argv = [PYTHON, "-m", "sidecar.git", "--config", str(tmp_path / "config.json")]
        done = subprocess.run(
            [*argv, "start-task", json.dumps({**args, **extra})],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    answer = run({"base": "develop"})
    assert answer["status"] == "ok" and answer["repo_dir"] == str(clone)
    assert (clone / "dev.txt").exists() and git(
        clone, "log", "-1", "--format=%s"
    ) == "feat: develop"
    assert run({"base": "-x"})["error"] == "invalid_base"
    assert run({"base": "a..b"})["error"] == "invalid_base"


async def test_a_task_whose_repo_cannot_be_cloned_fails_with_a_sidecar_error(
    hub, make_sidecar, tmp_path
):
    sidecar = make_sidecar(fast_config(hub.url)).start()
    await hub.expect("identify")
    url = f"file://{tmp_path / 'nowhere.git'}"
    await hub.send(task_assign(repo_url=url, branch="main"))

    failed = await hub.expect("task_failed")

    assert failed["reason"].startswith(f"sidecar_error: git clone of {url} failed")
    assert sidecar.queue().get("active") is None
    assert sidecar.process.poll() is None  # the sidecar goes on


async def test_a_task_of_a_repo_runs_in_its_workspace_and_records_it(hub, make_sidecar, tmp_path):
    make_clone(tmp_path)
    url = f"file://{tmp_path / 'origin.git'}"
    sidecar = make_sidecar(fast_config(hub.url, **{"confirmation_timeout_ms": 20000})).start()
    await hub.expect("identify")
    await hub.send(task_assign(repo_url=url, branch="main"))
    await hub.expect("task_complete")
    workspace = workspace_dir(config_at_path(sidecar.config_path), url)
    assert git(workspace, "rev-parse", "--abbrev-ref", "HEAD").startswith("gcu/")
    events = [json.loads(line) for line in sidecar.log_file.read_text().splitlines()]
    cloned = [e for e in events if e["event"] == "workspace_cloned"]
    assert [(e["workdir"], e["repo_url"]) for e in cloned] == [(str(workspace), url)]


def config_at_path(path: Path):
    return load_config(path)
