"""The build-verify-fix loop and risk tiers with real parts: a hub process, a sidecar
process running a fake `claude` that really commits in a git checkout (a clone of a bare
origin), and a fake `gh` on PATH that records how it was called.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agents import wait_until
from tests.sidecar.harness import PYTHON, SidecarProcess, fast_config, make_clone
from tests.sidecar.test_git_wrapper import GH_RECORDER
from tests.site.pages import log_in

pytestmark = pytest.mark.e2e

FAKES = Path(__file__).parents[1] / "sidecar" / "fakes"
TESTS_PASS = {"type": "tests_pass", "command": "grep -qx fixed status.txt", "timeout_s": 30}
FINAL = ("completed", "dead_letter")  # the failing cases allow no retry by the hub


class Rig:
    """One hub, one operator, and a sidecar whose fake agent behaves as `mode` says."""

    def __init__(self, backend, hub, tmp_path: Path, mode: str) -> None:
        self.hub, self.ops = hub, backend.operator_token()
        token = backend.create_agent("coder", ["code"])
        make_clone(tmp_path)
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        self.gh_log = tmp_path / "gh-calls.jsonl"
        (bin_dir / "gh").write_text(GH_RECORDER.format(python=PYTHON, log=str(self.gh_log)))
        (bin_dir / "gh").chmod(0o755)
        cli = bin_dir / "claude"
        cli.write_text(
            f'#!/bin/sh\nexec {shlex.join([PYTHON, str(FAKES / "fake_coder.py")])} "$@"\n'
        )
        cli.chmod(0o755)
        self.runs = tmp_path / "runs"
        self.runs.mkdir()
        config = fast_config(
            hub.ws_url,
            agent_id="coder",
            token=token,
            wake_command=None,
            executor="claude",
            executor_path=str(cli),
            repo_dir=str(tmp_path / "repo"),
            hub_api_url=hub.url,
        )
        (tmp_path / "agent").mkdir()
        path = f"{bin_dir}:{os.environ['PATH']}"
        self.sidecar = SidecarProcess(
            tmp_path / "agent", config, PATH=path, FAKE_CODER=mode, FAKE_RECORD=str(self.runs)
        ).start()

    async def run(self, **definition: Any) -> dict[str, Any]:
        body = {"description": "Make status.txt say fixed", **definition}
        status, answer = await self.hub.ahttp("POST", "/api/tasks", body, self.ops)
        assert status == 201, answer
        task_id = answer["task_id"]

        async def record() -> dict[str, Any]:
            return (await self.hub.ahttp("GET", f"/api/tasks/{task_id}", token=self.ops))[1]

        async def ended() -> bool:
            return (await record())["status"] in FINAL

        await wait_until(ended, timeout=60, interval=0.2, seen=record)
        return await record()

    def agent_runs(self) -> list[dict[str, Any]]:
        lines = (self.runs / "runs.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def pr_create(self) -> dict[str, Any]:
        calls = [json.loads(line) for line in self.gh_log.read_text().splitlines()]
        return next(c for c in calls if c["args"][:2] == ["pr", "create"])

    async def stop(self) -> None:
        await self.sidecar.stop()


@pytest.fixture
async def rig(backend, start_hub, tmp_path):
    rigs: list[Rig] = []

    def make(mode: str) -> Rig:
        rigs.append(Rig(backend, start_hub(), tmp_path, mode))
        return rigs[-1]

    yield make
    for each in rigs:
        await each.stop()


async def test_a_failed_first_attempt_is_fixed_on_the_second(rig):
    coder = rig("fix_on_retry")

    done = await coder.run(verification_steps=[TESTS_PASS], max_verification_retries=2)

    assert done["status"] == "completed", done
    reports = done["verification"]
    assert [(r["attempt"], r["passed"]) for r in reports] == [(1, False), (2, True)]
    first = reports[0]["steps"][0]
    assert (first["kind"], first["label"], first["exit_code"]) == (
        "tests_pass",
        "grep -qx fixed status.txt",
        1,
    )
    runs = coder.agent_runs()
    assert len(runs) == 2 and "--resume" not in runs[0]["argv"]
    assert "--resume" in runs[1]["argv"]  # the retry continues the agent's session
    assert "Earlier attempts" in runs[1]["stdin"] and "grep -qx fixed" in runs[1]["stdin"]
    assert done["result"]["pr_url"] == "https://github.example/pr/1"


async def test_a_task_that_never_passes_fails_with_its_reports_on_the_page(rig, backend):
    coder = rig("never")

    done = await coder.run(
        verification_steps=[TESTS_PASS], max_verification_retries=1, max_retries=1
    )

    assert done["status"] == "dead_letter" and done["last_error"] == "verification_failed"
    assert [(r["attempt"], r["passed"]) for r in done["verification"]] == [(1, False), (2, False)]
    assert not coder.gh_log.exists()  # nothing submitted
    backend.manage(
        "createsuperuser",
        "--noinput",
        "--username",
        "lead",
        "--email",
        "lead@example.com",
        env={"DJANGO_SUPERUSER_PASSWORD": "correct-horse-battery"},
    )
    opener, _ = log_in(coder.hub.url, "lead", "correct-horse-battery")
    page = opener.open(f"{coder.hub.url}/dashboard/tasks/{done['task_id']}", timeout=10)
    html = page.read().decode()
    assert html.count('class="attempt"') == 2 and 'data-passed="false"' in html
    assert "grep -qx fixed status.txt" in html


async def test_a_change_outside_diff_within_fails_verification(rig):
    coder = rig("outside")

    done = await coder.run(
        verification_steps=[{"type": "diff_within", "paths": ["src/**"]}],
        max_verification_retries=0,
        max_retries=1,
    )

    assert done["last_error"] == "verification_failed"
    step = done["verification"][0]["steps"][0]
    assert step["kind"] == "diff_within" and not step["passed"]
    assert step["output"] == "changed outside the allowed paths:\nconfig/settings.py"


@pytest.mark.parametrize(
    ("mode", "tier", "reason"),
    [
        ("docs", 1, "only tests and documents"),
        ("deps", 3, "dependency files changed: requirements.txt"),
    ],
)
async def test_the_pull_request_carries_the_risk_tier(rig, mode, tier, reason):
    coder = rig(mode)

    done = await coder.run()

    assert done["status"] == "completed" and done["risk_tier"] == tier, done
    assert any(reason in r for r in done["risk_reasons"])
    assert done["diff_shape"]["files_changed"] == 1
    assert any(h["event"] == "classified" for h in done["history"])
    pr = coder.pr_create()
    assert f"--label=risk:tier-{tier}" in pr["args"]
    assert f"### Risk\n\n**Tier {tier}** (risk:tier-{tier})" in pr["body"]
    assert reason in pr["body"]
    calls = [json.loads(line)["args"] for line in coder.gh_log.read_text().splitlines()]
    assert ["label", "create", "--force", "--", f"risk:tier-{tier}"] in calls
