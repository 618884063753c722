"""Verification steps run in a real git checkout (sidecar/verification.py, PROTOCOL.md §6.7)."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest

from sidecar.completion import REPORTS_BYTES_MAX, _size, bounded
from sidecar.diffshape import diff_shape
from sidecar.verification import OUTPUT_MAX_CHARS, Checkout, run_attempt
from tests.sidecar.harness import PYTHON, git, make_clone, pid_alive

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    clone = make_clone(tmp_path)
    base = git(clone, "rev-parse", "--short", "HEAD")
    return Checkout(clone, base, tests_timeout_s=30, log_file=tmp_path / "verify.log")


def commit(clone: Path, path: str, text: str) -> None:
    (clone / path).parent.mkdir(parents=True, exist_ok=True)
    (clone / path).write_text(text)
    git(clone, "add", path)
    git(clone, "commit", "--quiet", "-m", f"change {path}")


async def test_every_step_is_reported_and_one_failure_fails_the_attempt(checkout):
    commit(checkout.workdir, "src/app.py", "print('hi')\n")
    steps = [
        {"type": "command_succeeds", "command": f"{PYTHON} src/app.py", "timeout_s": 10},
        {"type": "tests_pass", "command": f"{PYTHON} -c 'import sys; sys.exit(3)'"},
        {"type": "file_exists", "path": "src/app.py"},
        {"type": "git_clean"},
        {"type": "diff_within", "paths": ["src/**"]},
        {"type": "from_the_future"},
    ]

    report = await run_attempt(steps, checkout, attempt=2)

    assert report["attempt"] == 2 and report["passed"] is False
    assert isinstance(report["finished_at"], int)
    kinds = [(s["index"], s["kind"], s["passed"], s["exit_code"]) for s in report["steps"]]
    assert kinds == [
        (0, "command_succeeds", True, 0),
        (1, "tests_pass", False, 3),
        (2, "file_exists", True, None),
        (3, "git_clean", True, 0),
        (4, "diff_within", True, None),
    ]
    assert report["steps"][0]["output"] == "hi"
    assert report["steps"][0]["label"] == f"{PYTHON} src/app.py"


async def test_a_command_never_goes_through_a_shell(checkout):
    marker = checkout.workdir / "pwned"
    step = {
        "type": "command_succeeds",
        "command": "echo $(touch pwned); touch pwned",
        "timeout_s": 5,
    }

    report = await run_attempt([step], checkout, attempt=1)

    assert report["steps"][0]["output"] == "$(touch pwned); touch pwned"
    assert not marker.exists()


async def test_a_command_past_its_timeout_is_killed_with_its_children(checkout, tmp_path):
    child_pid = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time; "
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(child_pid)!r}, 'w').write(str(p.pid)); print('waiting', flush=True); "
        "time.sleep(60)"
    )
    step = {"type": "command_succeeds", "command": f'{PYTHON} -c "{script}"', "timeout_s": 1}
    began = time.monotonic()

    report = await run_attempt([step], checkout, attempt=1)

    ran = report["steps"][0]
    assert time.monotonic() - began < 10
    assert (ran["passed"], ran["exit_code"]) == (False, None)
    assert ran["output"].startswith("waiting") and "still running after 1 s" in ran["output"]
    child = int(child_pid.read_text())
    deadline = time.monotonic() + 5
    while pid_alive(child) and time.monotonic() < deadline:  # SIGKILL lands asynchronously
        await asyncio.sleep(0.02)
    assert not pid_alive(child)


async def test_long_output_keeps_its_tail_and_says_so(checkout):
    command = f"{PYTHON} -c \"print('x' * 10000 + 'END')\""
    report = await run_attempt([{"type": "tests_pass", "command": command}], checkout, 1)

    ran = report["steps"][0]
    assert ran["truncated"] is True and ran["passed"] is True
    assert len(ran["output"]) == OUTPUT_MAX_CHARS and ran["output"].endswith("END")


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "escape/secret.txt"])
async def test_a_file_outside_the_checkout_never_counts(checkout, tmp_path, path):
    (tmp_path / "outside.txt").write_text("x")
    (tmp_path / "secret.txt").write_text("x")
    (checkout.workdir / "escape").symlink_to(tmp_path)

    report = await run_attempt([{"type": "file_exists", "path": path}], checkout, 1)

    assert report["passed"] is False
    assert (
        "outside the checkout" in report["steps"][0]["output"]
        or "not a path inside" in (report["steps"][0]["output"])
    )


async def test_diff_within_names_every_path_changed_outside_the_globs(checkout):
    commit(checkout.workdir, "src/app.py", "x\n")
    commit(checkout.workdir, "setup.cfg", "[x]\n")
    (checkout.workdir / "notes.txt").write_text("untracked\n")

    report = await run_attempt([{"type": "diff_within", "paths": ["src/**"]}], checkout, 1)

    ran = report["steps"][0]
    assert ran["passed"] is False
    assert ran["output"] == "changed outside the allowed paths:\nnotes.txt\nsetup.cfg"


async def test_git_clean_fails_on_uncommitted_work(checkout):
    (checkout.workdir / "README.md").write_text("edited\n")
    report = await run_attempt([{"type": "git_clean"}], checkout, 1)
    assert report["passed"] is False and "README.md" in report["steps"][0]["output"]


async def test_without_a_checkout_every_step_fails_and_says_why(tmp_path):
    bare = Checkout(None, None, tests_timeout_s=5, log_file=tmp_path / "v.log")
    report = await run_attempt([{"type": "git_clean"}], bare, 1)
    assert report["passed"] is False and "no checkout" in report["steps"][0]["output"]


def test_the_diff_shape_counts_lines_and_sorts_out_dependencies_tests_migrations(checkout):
    commit(checkout.workdir, "requirements-dev.txt", "pytest\n")
    commit(checkout.workdir, "tests/test_app.py", "a\nb\n")
    commit(checkout.workdir, "shop/migrations/0002_total.py", "m\n")
    commit(checkout.workdir, "README.md", "hello\nworld\n")

    shape = diff_shape(checkout.workdir, checkout.base_commit)

    assert shape == {
        "files_changed": 4,
        "lines_added": 5,
        "lines_removed": 0,
        "paths": [
            "README.md",
            "requirements-dev.txt",
            "shop/migrations/0002_total.py",
            "tests/test_app.py",
        ],
        "paths_truncated": False,
        "dependency_files": ["requirements-dev.txt"],
        "tests_touched": ["tests/test_app.py"],
        "migrations_touched": ["shop/migrations/0002_total.py"],
    }


def test_reports_too_large_for_a_frame_are_cut_oldest_first():
    step = {"index": 0, "kind": "tests_pass", "label": "t", "passed": False, "exit_code": 1}
    attempt = {"passed": False, "steps": [{**step, "output": "é" * 4000} for _ in range(20)]}
    reports = [{**attempt, "attempt": n} for n in range(1, 12)]

    cut = bounded(reports)

    assert _size(cut) <= REPORTS_BYTES_MAX
    assert len(cut[-1]["steps"][0]["output"]) == 4000  # the newest keeps its output
    assert cut[0]["steps"][0]["truncated"] is True
