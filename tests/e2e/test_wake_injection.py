"""An agent aims a task at another agent: its text reaches the victim's agent CLI as text.

A real hub, a real sidecar with the default wake template of `onboard_agent`, and an
`openclaw` stand-in that records its arguments and reports success.
"""

import json
import os
import sys

import pytest

from agents.onboarding import DEFAULT_WAKE_COMMAND
from tests.e2e.test_sidecar_runs import wait_all_completed
from tests.sidecar.harness import SidecarProcess, fast_config

pytestmark = pytest.mark.e2e

OPENCLAW = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["RECORD_FILE"], "w", encoding="utf-8") as record:
    json.dump(sys.argv[1:], record)
results, task_id = os.environ["AGENTCOM_RESULTS_DIR"], os.environ["AGENTCOM_TASK_ID"]
open(os.path.join(results, task_id + ".started"), "w").close()
with open(os.path.join(results, task_id + ".json.tmp"), "w") as result:
    json.dump({{"status": "success", "output": "read it"}}, result)
os.replace(os.path.join(results, task_id + ".json.tmp"), os.path.join(results, task_id + ".json"))
"""


async def test_an_agent_cannot_run_commands_on_the_agent_it_assigns_to(
    backend, start_hub, tmp_path
):
    hub = start_hub()
    tokens = backend.create_agents(["victim", "attacker"])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "openclaw").write_text(OPENCLAW)
    (bin_dir / "openclaw").chmod(0o755)
    record = tmp_path / "argv.json"
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    config = fast_config(
        hub.ws_url, agent_id="victim", token=tokens["victim"], wake_command=DEFAULT_WAKE_COMMAND
    )
    sidecar = SidecarProcess(
        victim_dir,
        config,
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        RECORD_FILE=str(record),
    ).start()
    marker = tmp_path / "pwned"
    description = f'Fix it "; touch {marker}; " $(touch {marker}) `touch {marker}`\n${{HOME}}'

    try:
        status, answer = await hub.ahttp(
            "POST",
            "/api/tasks",
            {"description": description, "assign_to": "victim"},
            tokens["attacker"],
        )
        assert status == 201, answer
        ops = backend.operator_token()
        (done,) = await wait_all_completed(hub, ops, [answer["task_id"]], timeout=30)
    finally:
        await sidecar.stop()

    argv = json.loads(record.read_text())
    assert done["assigned_to"] == "victim"
    assert argv[:2] == ["agent", "--message"]
    assert json.loads(argv[2].removeprefix("Task: "))["description"] == description
    assert argv[3:] == ["--session-id", answer["task_id"]]
    assert not marker.exists()
