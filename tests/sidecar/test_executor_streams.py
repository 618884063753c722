"""The executors' stream parsers, prompts and argv, read from recorded sample streams."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from sidecar.config import load_config
from sidecar.executors import executor_names, get_executor
from sidecar.executors.base import RunRequest
from sidecar.executors.claude import ClaudeStream
from sidecar.executors.codex import CodexStream
from sidecar.executors.process import ExecPlan, feed_line
from sidecar.executors.prompt import build_prompt
from tests.sidecar.harness import PYTHON, TOKEN

STREAMS = Path(__file__).parent / "fakes" / "streams"


def replay(parser, name: str):
    taken = [feed_line(parser, line) for line in (STREAMS / name).read_bytes().splitlines()]
    return parser, taken


def config_for(tmp_path: Path, **fields):
    raw = {"agent_id": "gcu-sleeper", "token": TOKEN, "hub_url": "ws://127.0.0.1:1/ws", **fields}
    (tmp_path / "config.json").write_text(json.dumps(raw))
    return load_config(tmp_path / "config.json")


def test_every_executor_is_found_by_its_module():
    assert executor_names() == ["claude", "codex", "openclaw", "shell"]


def test_a_claude_run_with_tool_calls_yields_its_text_costs_and_session():
    parser, taken = replay(ClaudeStream(), "claude_tool_run.jsonl")

    result = parser.result(0, "")

    assert all(taken)
    assert result == {
        "status": "success",
        "output": "The greeting now says hello, and the three tests pass.",
        "executor": "claude",
        "tokens_in": 22 + 2650 + 67004,
        "tokens_out": 209,
        "tokens_used": 22 + 2650 + 67004 + 209,
        "model": "claude-sonnet-4-5-20250929",
        "cost_usd": 0.0842,
        "execution_ms": 48210,
        "iterations": 7,
        "session_id": "5f0c7c1e-2b7d-4d55-9a61-0c3e8f6b2a11",
    }
    assert parser.figures.tool_calls == 3


def test_claude_progress_names_the_tool_and_counts_each_message_once():
    parser = ClaudeStream()
    lines = (STREAMS / "claude_tool_run.jsonl").read_bytes().splitlines()
    for line in lines[:3]:  # init, a text block and a tool_use block of the same message
        feed_line(parser, line)

    progress = parser.figures.progress()

    assert progress["activity"] == "tool: Read"
    assert progress["text"] == "I'll look at the greeting module first."
    assert progress["tokens_in"] == 4 + 2070 + 15006  # msg_01A counted once
    assert progress["tokens_out"] == 12
    assert progress["model"] == "claude-sonnet-4-5-20250929"
    assert progress["events"] == 3


def test_a_claude_error_result_fails_naming_the_error_and_keeps_the_cost():
    parser, _ = replay(ClaudeStream(), "claude_error.jsonl")

    result = parser.result(1, "")

    assert result["status"] == "failed"
    assert result["reason"].startswith("claude_error: error_max_turns")
    assert result["cost_usd"] == 0.0121
    assert result["session_id"] == "9a1d2e3f-0000-4c4c-8b8b-111122223333"


def test_a_claude_crash_without_a_result_fails_with_the_cli_error_bounded():
    parser, _ = replay(ClaudeStream(), "claude_crash.jsonl")

    result = parser.result(1, "API Error: 529 overloaded " + "x" * 5000)

    assert result["status"] == "failed"
    assert result["reason"].startswith(
        "claude_error: exit code 1 without a result event: API Error: 529 overloaded"
    )
    assert len(result["reason"]) <= 1500
    assert result["tokens_in"] == 8 + 2400


def test_garbage_lines_are_skipped_and_the_run_still_counts():
    parser, taken = replay(ClaudeStream(), "claude_garbage.jsonl")

    result = parser.result(0, "")

    assert taken.count(False) == 3  # text, a JSON list, a cut-off object
    assert result["status"] == "success"
    assert result["output"] == "Done despite the noise."
    assert result["tokens_in"] == 3 and result["tokens_out"] == 9


def test_a_long_assistant_text_is_cut_in_progress_and_output():
    parser = ClaudeStream()
    text = "word " * 20_000
    message = {"id": "m", "content": [{"type": "text", "text": text}]}
    feed_line(parser, json.dumps({"type": "assistant", "message": message}).encode())
    feed_line(parser, json.dumps({"type": "result", "result": text}).encode())

    assert len(parser.figures.progress()["text"]) <= 300
    assert len(parser.result(0, "")["output"]) <= 32_000


def test_a_codex_run_yields_its_last_message_and_usage():
    parser, taken = replay(CodexStream(), "codex_run.jsonl")

    result = parser.result(0, "")

    assert all(taken)
    assert result == {
        "status": "success",
        "output": "Changed the greeting to hello; `pytest -q` passes.",
        "executor": "codex",
        "tokens_in": 24763,
        "tokens_out": 122,
        "tokens_used": 24885,
        "iterations": 1,
        "session_id": "0199a213-81c0-7800-8aa1-bbab2a035a53",
    }  # no cost and no duration in the stream: the sidecar measures execution_ms
    assert parser.figures.tool_calls == 1


def test_codex_progress_names_the_command_it_runs():
    parser = CodexStream()
    for line in (STREAMS / "codex_run.jsonl").read_bytes().splitlines()[:3]:
        feed_line(parser, line)

    assert parser.figures.progress()["activity"] == "command: bash -lc 'rg -n greet'"


def test_a_failed_codex_turn_fails_naming_its_error():
    parser, _ = replay(CodexStream(), "codex_failed.jsonl")

    result = parser.result(1, "")

    assert result["status"] == "failed"
    assert result["reason"] == (
        "codex_error: stream disconnected before completion: rate limit reached"
    )


def test_the_prompt_carries_the_task_definition_and_earlier_attempts():
    task = {
        "task_id": "task-1",
        "title": "Say hello",
        "description": "Make greet() return 'hello'. $(rm -rf /) stays text.",
        "success_criteria": "greet() returns 'hello'",
        "file_hints": ["greet.py", "tests/test_greet.py"],
        "verification_steps": [{"type": "tests_pass", "command": "pytest -q"}],
        "previous_attempts": [{"attempt": 1, "steps": [{"type": "tests_pass", "ok": False}]}],
    }

    prompt = build_prompt(task)

    assert prompt.startswith("# Task: Say hello\n\nMake greet() return 'hello'. $(rm -rf /)")
    assert "## Success criteria\ngreet() returns 'hello'" in prompt
    assert "- greet.py\n- tests/test_greet.py" in prompt
    assert '1. {"type": "tests_pass", "command": "pytest -q"}' in prompt
    assert "### Attempt 1\n" in prompt and '"ok": false' in prompt


def test_the_prompt_carries_the_operators_answers():
    task = {
        "task_id": "task-1",
        "description": "pick a name",
        "operator_answers": [{"answer_id": 1, "question": "Which name?", "answer": "Ada"}],
    }

    prompt = build_prompt(task)

    assert "## The operator's answers to your questions\nQ: Which name?\nA: Ada" in prompt


def test_claude_gets_the_prompt_on_stdin_and_resumes_a_session(tmp_path):
    config = config_for(tmp_path, executor="claude", executor_args=["--model", "sonnet"])
    task = {"task_id": "task-1", "description": "fix `it`; $(id)"}
    claude = get_executor("claude")

    fresh = claude.launch(RunRequest(config=config, task=task, task_file=tmp_path / "t.json"))
    again = claude.launch(
        RunRequest(config=config, task=task, task_file=tmp_path / "t.json", resume_session="s-1")
    )

    assert fresh.argv == (
        "claude", "-p", "--output-format", "stream-json", "--verbose", "--model", "sonnet"
    )  # fmt: skip
    assert again.argv[-2:] == ("--resume", "s-1")
    assert "fix `it`; $(id)" in fresh.stdin_text
    assert not any("fix" in argument for argument in fresh.argv + again.argv)


def test_codex_reads_its_prompt_from_stdin_and_resumes_its_thread(tmp_path):
    config = config_for(tmp_path, executor="codex", executor_path="bin/codex")
    codex = get_executor("codex")
    task = {"task_id": "task-1", "description": "hello"}

    fresh = codex.launch(RunRequest(config=config, task=task, task_file=tmp_path / "t.json"))
    again = codex.launch(
        RunRequest(config=config, task=task, task_file=tmp_path / "t.json", resume_session="th")
    )

    assert fresh.argv == (str(tmp_path / "bin" / "codex"), "exec", "--json", "-")
    assert again.argv[-4:] == ("--json", "resume", "th", "-")


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("{task_file}", "{dir}/tasks/task-1.json"),
        ("--id={task_id}", "--id=task-1"),
        ("{results_dir}", "{dir}/results"),
        ("{generation}", "3"),
        ("{task_id}{task_id}", "task-1task-1"),
    ],
)
def test_the_shell_executor_fills_in_paths_and_ids_only(tmp_path, argument, expected):
    config = config_for(tmp_path, executor="shell", executor_command=["agent", argument])
    task = {"task_id": "task-1", "generation": 3, "description": "{task_file} $(id)"}
    request = RunRequest(config=config, task=task, task_file=tmp_path / "tasks" / "task-1.json")

    launch = get_executor("shell").launch(request)

    assert launch.argv == ("agent", expected.replace("{dir}", str(tmp_path)))
    assert launch.stdin_text is None


async def test_a_failure_while_reading_a_stream_ends_the_run_with_a_failed_result(tmp_path):
    def broken(session: str) -> None:
        raise RuntimeError("disk gone")

    env = {**os.environ, "FAKE_STREAM": str(STREAMS / "claude_crash.jsonl"), "FAKE_HANG_S": "30"}
    plan = ExecPlan(
        command="fake",
        argv=(PYTHON, str(STREAMS.parent / "fake_cli.py")),
        cwd=tmp_path,
        env=env,
        stdin_text="the prompt",
        output_file=tmp_path / "task.wake.log",
        results_dir=tmp_path / "results",
        task_id="task-1",
        parser=ClaudeStream,
        on_session=broken,
    )
    process = await plan.start()

    woken = await process.wait(10)
    result = json.loads((tmp_path / "results" / "task-1.json").read_text())

    assert woken is None  # the task is the result file's now
    assert result["status"] == "failed"
    assert result["reason"] == "sidecar_error: reading the claude stream: RuntimeError('disk gone')"
    assert (tmp_path / "results" / "task-1.started").exists()
    await asyncio.wait_for(process._process.wait(), 10)  # killed, not left running for 30 s


@pytest.mark.parametrize("bad", ["--dangerously-skip-permissions", "", "a b", 7, "x" * 200])
def test_a_session_id_that_could_read_as_an_option_is_ignored(bad):
    parser = ClaudeStream()
    feed_line(
        parser, json.dumps({"type": "system", "subtype": "init", "session_id": "s-1"}).encode()
    )
    feed_line(parser, json.dumps({"type": "assistant", "session_id": bad}).encode())

    assert parser.figures.session_id == "s-1"
