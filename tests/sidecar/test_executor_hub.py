"""A Claude run end to end: a real hub, a real sidecar, a fake `claude` replaying a
recorded stream; the hub stores its progress and its result's costs."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.e2e.agents import wait_until
from tests.sidecar.harness import PYTHON, SidecarProcess, fast_config

pytestmark = pytest.mark.e2e

FAKES = Path(__file__).parent / "fakes"


async def test_the_hub_stores_a_claude_runs_progress_and_costs(backend, start_hub, tmp_path):
    hub = start_hub()
    ops = backend.operator_token()
    token = backend.create_agent("claude-runner", ["code"])
    cli = tmp_path / "claude"
    cli.write_text(f'#!/bin/sh\nexec {shlex.join([PYTHON, str(FAKES / "fake_cli.py")])} "$@"\n')
    cli.chmod(0o755)
    config = fast_config(
        hub.ws_url,
        agent_id="claude-runner",
        token=token,
        wake_command=None,
        executor="claude",
        executor_path=str(cli),
        executor_progress_ms=100,
    )
    stream = str(FAKES / "streams" / "claude_tool_run.jsonl")
    (tmp_path / "agent").mkdir()
    sidecar = SidecarProcess(
        tmp_path / "agent", config, FAKE_STREAM=stream, FAKE_LINE_DELAY_S="0.3"
    ).start()
    try:
        status, answer = await hub.ahttp(
            "POST", "/api/tasks", {"description": "greet with hello"}, ops
        )
        assert status == 201, answer
        task_id = answer["task_id"]

        async def record():
            return (await hub.ahttp("GET", f"/api/tasks/{task_id}", token=ops))[1]

        async def progressed():
            return ((await record()).get("progress") or {}).get("executor") == "claude"

        async def completed():
            return (await record())["status"] == "completed"

        await wait_until(progressed, timeout=30, interval=0.1)
        await wait_until(completed, timeout=30, interval=0.2)
        done = await record()
    finally:
        await sidecar.stop()

    result = done["result"]
    assert result["output"] == "The greeting now says hello, and the three tests pass."
    assert (result["tokens_in"], result["tokens_out"], result["cost_usd"]) == (69676, 209, 0.0842)
    assert result["model"] == "claude-sonnet-4-5-20250929"
    assert (result["execution_ms"], result["iterations"]) == (48210, 7)
    assert result["session_id"] == "5f0c7c1e-2b7d-4d55-9a61-0c3e8f6b2a11"
