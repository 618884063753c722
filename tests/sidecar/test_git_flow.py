"""The sidecar with repo_dir: start-task before the wake, submit after a success result."""

from __future__ import annotations

import shutil

import pytest

from tests.sidecar.harness import fast_config, git, make_clone, path_without_gh, task_assign

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

TASK = "task-00000000000000a1"
# Commits in the task branch, confirms, then reports success (shell builtins and git only).
COMMITTING_AGENT = (
    "cd repo && echo fixed > fix.txt && git add fix.txt && git commit -q -m 'fix: login' && cd .. "
    '&& : > "$AGENTCOM_RESULTS_DIR/$AGENTCOM_TASK_ID.started" '
    '&& printf \'%s\' \'{"status":"success","output":"fixed"}\' '
    '> "$AGENTCOM_RESULTS_DIR/$AGENTCOM_TASK_ID.json"'
)


async def test_task_branch_is_created_pushed_and_completed_without_pr(hub, make_sidecar, tmp_path):
    make_clone(tmp_path)
    config = fast_config(hub.url, wake_command=COMMITTING_AGENT, repo_dir="repo")
    sidecar = make_sidecar(config, PATH=path_without_gh(tmp_path)).start()
    await hub.expect("identify")

    await hub.send(task_assign(description="Fix login"))
    complete = await hub.expect("task_complete", timeout=20)

    assert complete["result"] == {"status": "success", "output": "fixed"}  # no pr_url: gh missing
    pushed = git(tmp_path / "origin.git", "rev-parse", "refs/heads/gcu/fix-login")
    assert pushed == git(tmp_path / "repo", "rev-parse", "HEAD")
    assert sidecar.queue()["active"] is None


async def test_failed_start_task_is_kept_as_git_warning_and_the_agent_still_woken(
    hub, make_sidecar, tmp_path
):
    clone = make_clone(tmp_path)
    (clone / "dirty.txt").write_text("uncommitted")
    config = fast_config(
        hub.url, wake_command=': > "$AGENTCOM_RESULTS_DIR/$AGENTCOM_TASK_ID.started"'
    )
    config["repo_dir"] = "repo"
    sidecar = make_sidecar(config, PATH=path_without_gh(tmp_path)).start()
    await hub.expect("identify")

    await hub.send(task_assign())
    wake = await hub.expect("wake_result", timeout=20)
    await sidecar.wait_for_status("working")

    assert wake["status"] == "success"
    assert sidecar.queue()["active"]["git_warning"] == "dirty_working_tree"
