"""Executors driven through the real sidecar against the fake hub, with fake CLIs that
replay recorded streams (tests/sidecar/fakes)."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from tests.sidecar.harness import (
    PYTHON,
    REPO_ROOT,
    fast_config,
    pid_alive,
    sidecar_env,
    task_assign,
)

TASK = "task-00000000000000a1"
FAKES = Path(__file__).parent / "fakes"
STREAMS = FAKES / "streams"
HOSTILE = "say hello $(touch pwned) `touch pwned2`; rm -rf / \" ' \n done"


@pytest.fixture
def fake_cli(tmp_path) -> Path:
    """An executable that replays FAKE_STREAM, as `claude` or `codex` would run."""
    path = tmp_path / "bin" / "fake-cli"
    path.parent.mkdir(exist_ok=True)
    script = shlex.join([PYTHON, str(FAKES / "fake_cli.py")])
    path.write_text(f'#!/bin/sh\nexec {script} "$@"\n')
    path.chmod(0o755)
    return path


def executor_config(hub, fake_cli: Path, executor: str = "claude", **overrides):
    config = {"executor_progress_ms": 100, **overrides}
    return fast_config(
        hub.url, wake_command=None, executor=executor, executor_path=str(fake_cli), **config
    )


def stream_env(tmp_path: Path, stream: str, **extra: str) -> dict[str, str]:
    return {"FAKE_STREAM": str(STREAMS / stream), "FAKE_RECORD": str(tmp_path), **extra}


def runs(tmp_path: Path) -> list[dict]:
    path = tmp_path / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def progress_until(hub, final: str) -> tuple[list[dict], dict]:
    """Every task_progress value before the final frame, and that frame."""
    seen: list[dict] = []
    while True:
        frame = await hub.expect_any({"task_progress", final}, timeout=20)
        if frame["type"] == final:
            return seen, frame
        seen.append(frame.get("progress"))


async def test_a_claude_run_streams_progress_and_completes_with_its_costs(
    hub, make_sidecar, fake_cli, tmp_path
):
    env = stream_env(tmp_path, "claude_tool_run.jsonl", FAKE_LINE_DELAY_S="0.15")
    sidecar = make_sidecar(executor_config(hub, fake_cli), **env).start()
    await hub.expect("identify")
    await hub.send(task_assign(description=HOSTILE, success_criteria="greet() says hello"))

    woken = await hub.expect("wake_result")
    progress, complete = await progress_until(hub, "task_complete")

    assert woken["status"] == "success" and woken["attempt"] == 1
    assert all(value["executor"] == "claude" for value in progress)
    activities = [value.get("activity") for value in progress if value]
    assert any(activity.startswith("tool: ") for activity in activities)
    assert progress[-1]["tokens_in"] > 0 and progress[-1]["model"].startswith("claude-")
    assert all(len(json.dumps(value)) < 2000 for value in progress)
    assert complete["result"] == {
        "status": "success",
        "output": "The greeting now says hello, and the three tests pass.",
        "executor": "claude",
        "tokens_in": 69676,
        "tokens_out": 209,
        "tokens_used": 69885,
        "model": "claude-sonnet-4-5-20250929",
        "cost_usd": 0.0842,
        "execution_ms": 48210,
        "iterations": 7,
        "session_id": "5f0c7c1e-2b7d-4d55-9a61-0c3e8f6b2a11",
    }
    assert complete["tokens_used"] == 69885
    [run] = runs(tmp_path)
    assert run["argv"] == ["-p", "--output-format", "stream-json", "--verbose"]
    assert HOSTILE in run["stdin"] and "greet() says hello" in run["stdin"]
    assert Path(run["cwd"]) == sidecar.dir
    assert not (sidecar.dir / "pwned").exists() and not (sidecar.dir / "pwned2").exists()
    await sidecar.wait_for(lambda: sidecar.queue()["active"] is None, "slot cleared")


async def test_an_error_result_fails_the_task_naming_the_cli_error(
    hub, make_sidecar, fake_cli, tmp_path
):
    env = stream_env(tmp_path, "claude_error.jsonl", FAKE_EXIT="1")
    make_sidecar(executor_config(hub, fake_cli), **env).start()
    await hub.expect("identify")
    await hub.send(task_assign())

    failed = await hub.expect("task_failed")

    assert failed["reason"].startswith("claude_error: error_max_turns")
    assert hub.count("wake_result") == 1  # it ran: no retry
    assert len(runs(tmp_path)) == 1


async def test_a_crash_half_way_fails_the_task_with_the_cli_error(
    hub, make_sidecar, fake_cli, tmp_path
):
    env = stream_env(
        tmp_path, "claude_crash.jsonl", FAKE_EXIT="1", FAKE_STDERR="API Error: 529 overloaded"
    )
    env["FAKE_LINE_DELAY_S"] = "0.3"  # time for a progress frame before the crash
    make_sidecar(executor_config(hub, fake_cli), **env).start()
    await hub.expect("identify")
    await hub.send(task_assign())

    progress, failed = await progress_until(hub, "task_failed")

    assert progress and progress[-1]["session_id"] == "c4a5b6c7-1111-4d4d-9e9e-444455556666"
    assert failed["reason"] == (
        "claude_error: exit code 1 without a result event: API Error: 529 overloaded"
    )
    assert len(runs(tmp_path)) == 1
    # What the attempt spent before it crashed goes with the failure (budgets count it).
    assert failed["session_id"] == "c4a5b6c7-1111-4d4d-9e9e-444455556666"
    assert failed["tokens_in"] == progress[-1]["tokens_in"] and "executor" not in failed


async def test_a_cli_that_fails_before_any_event_is_retried_as_a_wake(
    hub, make_sidecar, fake_cli, tmp_path
):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    env = {"FAKE_STREAM": str(empty), "FAKE_RECORD": str(tmp_path), "FAKE_EXIT": "3"}
    env["FAKE_STDERR"] = "Invalid API key · Please run /login"
    make_sidecar(executor_config(hub, fake_cli), **env).start()
    await hub.expect("identify")
    await hub.send(task_assign())

    attempts = [await hub.expect("wake_result") for _ in range(4)]
    failed = await hub.expect("task_failed")

    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
    assert all(a["status"] == "failed" for a in attempts)
    assert attempts[0]["error"] == "exit code 3: Invalid API key · Please run /login"
    assert failed["reason"] == "wake_failed_after_3_attempts"
    assert len(runs(tmp_path)) == 4


async def test_garbage_and_an_over_long_line_do_not_stop_the_run(
    hub, make_sidecar, fake_cli, tmp_path
):
    env = stream_env(tmp_path, "claude_garbage.jsonl", FAKE_HUGE_LINE=str(3 * 1024 * 1024))
    make_sidecar(executor_config(hub, fake_cli), **env).start()
    await hub.expect("identify")
    await hub.send(task_assign())

    complete = await hub.expect("task_complete", timeout=20)

    assert complete["result"]["output"] == "Done despite the noise."
    assert complete["result"]["unparsed_lines"] == 4  # 3 garbage lines and the long one
    assert complete["result"]["model"] == "claude-haiku-4-5-20251001"


async def test_a_long_run_sends_rate_limited_progress_and_keepalives_while_it_runs(
    hub, make_sidecar, fake_cli, tmp_path
):
    # 300 events in about 3 s, then 1 s of silence (longer than alive_window_ms).
    env = stream_env(tmp_path, "claude_long_run.jsonl", FAKE_REPEAT="150", FAKE_LINE_DELAY_S="0.01")
    env["FAKE_HANG_S"] = "1"
    config = executor_config(
        hub, fake_cli, executor_progress_ms=500, progress_interval_ms=100, alive_window_ms=300
    )
    sidecar = make_sidecar(config, **env).start()
    await hub.expect("identify")
    await hub.send(task_assign())
    await hub.expect("wake_result")
    began = time.monotonic()

    progress, complete = await progress_until(hub, "task_complete")
    elapsed = time.monotonic() - began

    distinct = [value for i, value in enumerate(progress) if i == 0 or value != progress[i - 1]]
    assert 2 <= len(distinct) <= elapsed / 0.5 + 2  # at most one new value per 500 ms
    assert len(progress) > len(distinct)  # keepalives repeat the last value in between
    assert len(distinct) < 30  # 300 events were sampled, not relayed line by line
    assert "keepalive_withheld" not in sidecar.log_file.read_text()  # alive while it ran
    assert complete["result"]["cost_usd"] == 14.73
    assert complete["result"]["iterations"] == 400


async def test_a_run_cut_by_a_restart_resumes_its_session(hub, make_sidecar, fake_cli, tmp_path):
    env = stream_env(tmp_path, "claude_crash.jsonl", FAKE_HANG_S="60")
    sidecar = make_sidecar(executor_config(hub, fake_cli), **env).start()
    await hub.expect("identify")
    await hub.send(task_assign())
    session = "c4a5b6c7-1111-4d4d-9e9e-444455556666"
    await sidecar.wait_for(
        lambda: (sidecar.queue().get("active") or {}).get("executor_session") == session,
        "the session noted with the task",
    )
    assert await sidecar.stop() == 0
    assert not (sidecar.results_dir / f"{TASK}.json").exists()  # a killed run leaves no result

    sidecar.env.update(stream_env(tmp_path, "claude_tool_run.jsonl", FAKE_HANG_S="0"))
    sidecar.start()
    await hub.expect("task_recovering")
    await hub.send({"type": "task_continue", "task_id": TASK, "generation": 1})
    woken = await hub.expect("wake_result")
    complete = await hub.expect("task_complete")

    assert woken["attempt"] == 2  # the run again counts as a wake attempt
    first, second = runs(tmp_path)
    assert "--resume" not in first["argv"]
    assert second["argv"][-2:] == ["--resume", session]
    assert complete["result"]["status"] == "success"


async def test_a_cancelled_run_is_killed_and_leaves_no_result(
    hub, make_sidecar, fake_cli, tmp_path
):
    env = stream_env(tmp_path, "claude_crash.jsonl", FAKE_HANG_S="60")
    sidecar = make_sidecar(executor_config(hub, fake_cli), **env).start()
    await hub.expect("identify")
    await hub.send(task_assign())
    await sidecar.wait_for_status("working")
    [run] = runs(tmp_path)

    await hub.send({"type": "task_cancelled", "task_id": TASK, "reason": "operator"})
    await sidecar.wait_for(lambda: not pid_alive(run["pid"]), "the CLI killed")
    # A later task's whole run shows the event loop went well past the killed run's end.
    other = "task-00000000000000b2"
    await hub.send(task_assign(task_id=other, generation=2))
    await hub.expect("task_accepted")

    assert not (sidecar.results_dir / f"{TASK}.json").exists()
    assert hub.count("task_complete") == hub.count("task_failed") == 0


async def test_a_codex_run_completes_with_its_last_message_and_usage(
    hub, make_sidecar, fake_cli, tmp_path
):
    env = stream_env(tmp_path, "codex_run.jsonl", FAKE_LINE_DELAY_S="0.05")
    config = executor_config(hub, fake_cli, "codex", executor_args=["-m", "gpt-5-codex"])
    make_sidecar(config, **env).start()
    await hub.expect("identify")
    await hub.send(task_assign(description=HOSTILE))

    progress, complete = await progress_until(hub, "task_complete")

    result = complete["result"]
    assert progress and progress[0]["executor"] == "codex"
    assert result["output"] == "Changed the greeting to hello; `pytest -q` passes."
    assert (result["tokens_in"], result["tokens_out"]) == (24763, 122)
    assert result["session_id"] == "0199a213-81c0-7800-8aa1-bbab2a035a53"
    assert result["model"] == "gpt-5-codex"  # from its command line: the stream has none
    assert isinstance(result["execution_ms"], int) and "cost_usd" not in result
    [run] = runs(tmp_path)
    assert run["argv"] == ["exec", "--json", "-m", "gpt-5-codex", "-"]
    assert HOSTILE in run["stdin"]


async def test_a_failed_codex_turn_fails_the_task(hub, make_sidecar, fake_cli, tmp_path):
    env = stream_env(tmp_path, "codex_failed.jsonl", FAKE_EXIT="1")
    make_sidecar(executor_config(hub, fake_cli, "codex"), **env).start()
    await hub.expect("identify")
    await hub.send(task_assign())

    failed = await hub.expect("task_failed")

    assert failed["reason"].startswith("codex_error: stream disconnected before completion")


SHELL_AGENT = """
import json, os, sys
task = json.load(open(sys.argv[1]))
result = {"status": "success", "output": task["description"]}
with open(os.path.join(sys.argv[2], sys.argv[3] + ".json"), "w") as out:
    json.dump(result, out)
"""


async def test_the_shell_executor_reads_the_task_file_named_on_its_command_line(
    hub, make_sidecar, tmp_path
):
    command = [PYTHON, "-c", SHELL_AGENT, "{task_file}", "{results_dir}", "{task_id}"]
    config = fast_config(hub.url, wake_command=None, executor="shell", executor_command=command)
    sidecar = make_sidecar(config).start()
    await hub.expect("identify")
    await hub.send(task_assign(description=HOSTILE))

    complete = await hub.expect("task_complete")

    assert complete["result"]["output"] == HOSTILE
    assert not (sidecar.dir / "pwned").exists() and not (sidecar.dir / "pwned2").exists()


async def test_the_openclaw_executor_runs_the_default_wake(hub, make_sidecar, tmp_path):
    openclaw = tmp_path / "bin" / "openclaw"
    openclaw.parent.mkdir(exist_ok=True)
    openclaw.write_text(
        "#!/bin/sh\n"
        'printf "%s\\n" "$@" > "$AGENTCOM_RESULTS_DIR/args.txt"\n'
        'echo \'{"status":"success","output":"claws"}\' > "$AGENTCOM_RESULTS_DIR/$5.json"\n'
    )
    openclaw.chmod(0o755)
    config = fast_config(
        hub.url, wake_command=None, executor="openclaw", executor_path=str(openclaw)
    )
    sidecar = make_sidecar(config).start()
    await hub.expect("identify")
    await hub.send(task_assign(description=HOSTILE))

    complete = await hub.expect("task_complete")

    args = (sidecar.results_dir / "args.txt").read_text()
    assert complete["result"]["output"] == "claws"
    assert args.startswith("agent\n--message\nTask: {")
    assert args.endswith(f"--session-id\n{TASK}\n")
    assert json.dumps(HOSTILE)[1:-1] in args
    assert not (sidecar.dir / "pwned").exists()


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"executor": "claude", "wake_command": "wake-agent"}, "executor"),
        ({"executor": "gpt-agent"}, "executor"),
        ({"executor": "shell"}, "executor_command"),
        ({"executor": "shell", "executor_command": ["a", "{description}"]}, "executor_command"),
        ({"executor": "claude", "self_wake": True}, "self_wake"),
        ({"executor": "claude", "executor_args": "--model sonnet"}, "executor_args"),
        ({}, "wake_command"),
    ],
)
def test_a_config_naming_not_exactly_one_way_to_run_the_agent_exits_2(tmp_path, fields, named):
    config = {"agent_id": "a", "token": "t" * 64, "hub_url": "ws://127.0.0.1:1/ws", **fields}
    (tmp_path / "config.json").write_text(json.dumps(config))

    done = subprocess.run(
        [PYTHON, "-m", "sidecar", "--config", str(tmp_path / "config.json")],
        cwd=REPO_ROOT,
        env=sidecar_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode == 2
    assert done.stderr.startswith(f"sidecar: config error: {named}: ")


def test_the_readme_recipe_turns_an_onboarded_config_into_a_claude_one(tmp_path):
    from agents import onboarding
    from sidecar.config import load_config

    section = (REPO_ROOT / "README.md").read_text().split("## Driving Claude Code")[1]
    recipe = section.split("<<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]
    written = onboarding.sidecar_config(agent_id="gcu-sleeper", token="t" * 64, hub_url="ws://h/ws")
    path = onboarding.write_config(tmp_path, written)

    done = subprocess.run(
        [PYTHON, "-", str(path)], input=recipe, capture_output=True, text=True, check=False
    )
    config = load_config(path)

    assert done.returncode == 0, done.stderr
    assert config.executor == "claude" and config.wake_command is None
    assert config.executor_args == ("--permission-mode", "acceptEdits")
    assert path.stat().st_mode & 0o777 == 0o600  # still readable by its owner only
