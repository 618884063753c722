"""`python -m sidecar report|started` and the fake agent's file writing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.sidecar.harness import PYTHON, TOKEN, sidecar_env


def run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", *args],
        cwd=cwd,
        env=sidecar_env(**env),
        capture_output=True,
        text=True,
        timeout=30,
    )


def write_config(directory: Path) -> Path:
    path = directory / "config.json"
    config = {"agent_id": "a", "token": TOKEN, "hub_url": "ws://h/ws", "results_dir": "out"}
    path.write_text(json.dumps(config))
    return path


def test_report_writes_the_result_file_by_rename(tmp_path):
    config = write_config(tmp_path)

    done = run(
        "sidecar",
        "report",
        "--config",
        str(config),
        "--task-id",
        "task-1",
        "--status",
        "success",
        "--output",
        "hello",
        "--tokens-used",
        "7",
        "--pr-url",
        "https://example.com/pr/1",
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out" / "task-1.json").read_text()) == {
        "status": "success",
        "output": "hello",
        "pr_url": "https://example.com/pr/1",
        "tokens_used": 7,
    }
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["task-1.json"]


def test_failed_report_carries_the_reason(tmp_path):
    config = write_config(tmp_path)

    run(
        "sidecar",
        "report",
        "--config",
        str(config),
        "--task-id",
        "t",
        "--status",
        "failed",
        "--reason",
        "tests failed",
        cwd=tmp_path,
    )

    assert json.loads((tmp_path / "out" / "t.json").read_text()) == {
        "status": "failed",
        "reason": "tests failed",
    }


def test_started_marker_from_the_wake_environment(tmp_path):
    done = run(
        "sidecar",
        "started",
        cwd=tmp_path,
        AGENTCOM_TASK_ID="task-9",
        AGENTCOM_RESULTS_DIR=str(tmp_path / "r"),
    )
    report_started = run(
        "sidecar",
        "report",
        "--started",
        "--task-id",
        "task-8",
        "--results-dir",
        str(tmp_path / "r"),
        cwd=tmp_path,
    )

    assert done.returncode == 0 and report_started.returncode == 0
    assert (tmp_path / "r" / "task-9.started").exists()
    assert (tmp_path / "r" / "task-8.started").exists()


def test_report_without_task_id_is_refused(tmp_path):
    done = run(
        "sidecar", "report", "--results-dir", str(tmp_path), "--status", "success", cwd=tmp_path
    )

    assert done.returncode == 2
    assert "--task-id" in done.stderr


def test_fake_agent_in_foreground_writes_started_then_result(tmp_path):
    done = run(
        "sidecar.fake_agent",
        "--foreground",
        "--delay",
        "0",
        "--task-id",
        "t1",
        "--results-dir",
        str(tmp_path),
        "--outcome",
        "failure",
        "--reason",
        "nope",
        cwd=tmp_path,
    )

    assert done.returncode == 0
    assert (tmp_path / "t1.started").exists()
    assert json.loads((tmp_path / "t1.json").read_text()) == {"status": "failed", "reason": "nope"}
