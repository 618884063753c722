"""The build-verify-fix loop survives a restart of the sidecar: the reports of earlier
attempts are kept in queue.json and sent with the final report."""

from __future__ import annotations

import shutil

import pytest

from tests.sidecar.harness import PYTHON, fast_config, make_clone, path_without_gh, task_assign

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

TASK = "task-00000000000000a1"
# Each wake counts itself; from the second one on, the agent writes what the check wants.
# (Shell builtins only: PATH holds nothing but git.)
AGENT = (
    "n=0; [ -f wakes ] && read n < wakes; n=$((n+1)); echo $n > wakes; "
    'if [ "$n" -ge 2 ]; then echo fixed > repo/status.txt; fi; '
    ': > "$AGENTCOM_RESULTS_DIR/$AGENTCOM_TASK_ID.started"; '
    'printf \'%s\' \'{"status":"success"}\' > "$AGENTCOM_RESULTS_DIR/$AGENTCOM_TASK_ID.json"'
)
CHECK = {
    "type": "tests_pass",
    "command": f"{PYTHON} -c \"import sys; sys.exit(open('status.txt').read() != 'fixed\\n')\"",
    "timeout_s": 10,
}


async def test_a_restart_mid_loop_keeps_the_earlier_reports(hub, make_sidecar, tmp_path):
    make_clone(tmp_path)
    config = fast_config(hub.url, wake_command=AGENT, repo_dir="repo")
    sidecar = make_sidecar(config, PATH=path_without_gh(tmp_path)).start()
    await hub.expect("identify")
    await hub.send(task_assign(verification_steps=[CHECK], max_verification_retries=2))

    def first_attempt_kept() -> bool:
        try:
            return len((sidecar.queue().get("active") or {}).get("previous_attempts", [])) == 1
        except ValueError:
            return False

    await sidecar.wait_for(first_attempt_kept, "the first attempt's report in queue.json")
    sidecar.kill()
    sidecar.start()
    await hub.expect("task_recovering")
    await hub.send({"type": "task_continue", "task_id": TASK, "generation": 1})
    complete = await hub.expect("task_complete", timeout=20)

    reports = complete["verification"]
    assert [(r["attempt"], r["passed"]) for r in reports] == [(1, False), (2, True)]
    assert reports[0]["steps"][0]["exit_code"] != 0
    assert sidecar.queue()["active"] is None


async def test_a_task_without_steps_completes_without_reports(hub, make_sidecar, tmp_path):
    make_clone(tmp_path)
    config = fast_config(hub.url, wake_command=AGENT, repo_dir="repo")
    make_sidecar(config, PATH=path_without_gh(tmp_path)).start()
    await hub.expect("identify")
    await hub.send(task_assign())

    complete = await hub.expect("task_complete", timeout=20)

    assert "verification" not in complete and complete["result"] == {"status": "success"}
