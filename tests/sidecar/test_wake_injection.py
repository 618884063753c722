"""Task text reaches the agent verbatim and never runs as a command (PROTOCOL.md §6.4).

A real sidecar process wakes a recording stand-in for the agent CLI with templates
written the way Node-sidecar users write them; every hostile description must arrive
as exactly the text the hub sent, and the marker file it tries to create must not exist.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from agents.onboarding import DEFAULT_WAKE_COMMAND
from sidecar.template import ENVIRONMENT_VALUE_MAX_BYTES
from tests.sidecar.harness import fast_config, task_assign

RECORDER = f"""#!{sys.executable}
import json, os, sys
with open(os.path.join(os.environ["RECORD_DIR"], "calls.jsonl"), "a", encoding="utf-8") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def hostile_descriptions(marker: Path) -> list[str]:
    return [
        f"$(touch {marker})",
        f"`touch {marker}`",
        f'"; touch {marker}; "',
        f"it's '; touch {marker}; '",
        f"line one\ntouch {marker}\nline three",
        "${HOME} $HOME $$ $0 \\ \\\\ \\$(x)",
        f"$(touch {marker}) " + "x" * 9_900 + f" `touch {marker}`",
    ]


@pytest.fixture
def agent_cli(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An `openclaw` on PATH that records its arguments; returns (calls file, sidecar env)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("openclaw", "record"):
        script = bin_dir / name
        script.write_text(RECORDER, encoding="utf-8")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "RECORD_DIR": str(tmp_path)}
    return tmp_path / "calls.jsonl", env


async def wake_with(hub, make_sidecar, template: str, description: str, env) -> list[str]:
    """Assign one task with description, wait for its wake, return the recorded argv."""
    calls, sidecar_env = env
    make_sidecar(fast_config(hub.url, wake_command=template), **sidecar_env).start()
    await hub.expect("identify")
    await hub.send(task_assign(description=description))
    result = await hub.expect("wake_result")
    assert result["status"] == "success", result
    return json.loads(calls.read_text(encoding="utf-8").splitlines()[0])


@pytest.mark.parametrize("case", range(7))
async def test_the_default_template_hands_the_task_over_as_text(
    hub, make_sidecar, agent_cli, tmp_path, case
):
    marker = tmp_path / "pwned"
    description = hostile_descriptions(marker)[case]

    argv = await wake_with(hub, make_sidecar, DEFAULT_WAKE_COMMAND, description, agent_cli)

    assert argv[:2] == ["agent", "--message"]
    assert argv[2].startswith("Task: ")
    sent = json.loads(argv[2].removeprefix("Task: "))
    assert sent["description"] == description
    assert sent["task_id"] == "task-00000000000000a1"
    assert argv[3:] == ["--session-id", "task-00000000000000a1"]
    assert not marker.exists()


@pytest.mark.parametrize("case", range(7))
async def test_a_quoted_description_arrives_verbatim(hub, make_sidecar, agent_cli, tmp_path, case):
    marker = tmp_path / "pwned"
    description = hostile_descriptions(marker)[case]
    template = 'record "${TASK_DESCRIPTION}" "$AGENTCOM_TASK_DESCRIPTION" ${TASK_ID}'

    argv = await wake_with(hub, make_sidecar, template, description, agent_cli)

    assert argv == [description, description, "task-00000000000000a1"]
    assert not marker.exists()


async def test_an_unquoted_description_is_split_into_words_but_never_run(
    hub, make_sidecar, agent_cli, tmp_path
):
    marker = tmp_path / "pwned"
    description = f"$(touch {marker}); `touch {marker}` && touch {marker}"

    argv = await wake_with(hub, make_sidecar, "record ${TASK_DESCRIPTION}", description, agent_cli)

    assert argv == description.split()
    assert not marker.exists()


async def test_a_task_too_large_for_the_environment_fails_with_the_reason(
    hub, make_sidecar, agent_cli
):
    calls, sidecar_env = agent_cli
    make_sidecar(fast_config(hub.url, wake_command=DEFAULT_WAKE_COMMAND), **sidecar_env).start()
    await hub.expect("identify")

    await hub.send(task_assign(metadata={"blob": "x" * ENVIRONMENT_VALUE_MAX_BYTES}))
    result = await hub.expect("wake_result")
    failed = await hub.expect("task_failed")

    assert result["status"] == "failed" and result["error"] == failed["reason"]
    assert failed["reason"].startswith("sidecar_error: TASK_JSON is ")
    assert "AGENTCOM_TASK_FILE" in failed["reason"]
    assert not calls.exists()


async def test_a_large_task_still_wakes_a_template_that_reads_the_task_file(
    hub, make_sidecar, agent_cli
):
    calls, sidecar_env = agent_cli
    template = 'record "$AGENTCOM_TASK_FILE"'
    make_sidecar(fast_config(hub.url, wake_command=template), **sidecar_env).start()
    await hub.expect("identify")

    await hub.send(task_assign(metadata={"blob": "x" * ENVIRONMENT_VALUE_MAX_BYTES}))
    result = await hub.expect("wake_result")

    assert result["status"] == "success"
    task_file = Path(json.loads(calls.read_text(encoding="utf-8"))[0])
    assert task_file.name == "task-00000000000000a1.json"
