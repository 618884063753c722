"""Running a task's verification steps in its checkout (PROTOCOL.md §6.9).

Each step gives ``{index, kind, label, passed, exit_code, duration_ms, output,
truncated}``; one run of them all is an attempt, ``{attempt, passed, steps,
finished_at}``. Commands are split with shlex and run as an argv list, never through
a shell (a pipe needs an explicit ``sh -c '…'`` in the step), in a process group of
their own that is killed at the step's timeout; their output (stdout and stderr) goes to
a file and its last OUTPUT_MAX_CHARS are kept. Paths a step names must stay inside the
checkout. A step of a kind this sidecar does not know is left out of the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sidecar.diffshape import changed_paths, glob_match
from sidecar.shell import kill_group

OUTPUT_MAX_CHARS = 4_000  # the tail of a step's output kept in its report
LABEL_MAX_CHARS = 200
KINDS = ("command_succeeds", "tests_pass", "file_exists", "git_clean", "diff_within")
GIT_TIMEOUT_S = 60


@dataclass(frozen=True)
class Checkout:
    """Where the steps run: the task's work tree and the commit its branch started from."""

    workdir: Path | None
    base_commit: str | None
    tests_timeout_s: float
    log_file: Path  # a step's output, overwritten by the next step


@dataclass(frozen=True)
class StepRun:
    passed: bool
    exit_code: int | None
    output: str
    truncated: bool = False


async def run_attempt(steps: list[Any], checkout: Checkout, attempt: int) -> dict[str, Any]:
    """Run every step (a failed one does not stop the rest) and report the attempt."""
    reports = []
    for index, step in enumerate(steps):
        if not isinstance(step, dict) or step.get("type") not in KINDS:
            continue
        began = time.monotonic()
        run = await _run_step(step, checkout)
        reports.append(
            {
                "index": index,
                "kind": step["type"],
                "label": _label(step),
                "passed": run.passed,
                "exit_code": run.exit_code,
                "duration_ms": int((time.monotonic() - began) * 1000),
                "output": run.output,
                "truncated": run.truncated,
            }
        )
    return {
        "attempt": attempt,
        "passed": all(r["passed"] for r in reports),
        "steps": reports,
        "finished_at": int(time.time() * 1000),
    }


def _label(step: dict[str, Any]) -> str:
    kind = step["type"]
    if kind in ("command_succeeds", "tests_pass"):
        text = str(step.get("command") or "")
    elif kind == "file_exists":
        text = f"{step.get('path')} exists"
    elif kind == "diff_within":
        text = "changes only in " + ", ".join(str(p) for p in step.get("paths") or [])
    else:
        text = "no uncommitted changes"
    return _clean(text)[:LABEL_MAX_CHARS]


async def _run_step(step: dict[str, Any], checkout: Checkout) -> StepRun:
    if checkout.workdir is None:
        return StepRun(False, None, "this sidecar has no checkout to verify (set repo_dir)")
    kind = step["type"]
    if kind in ("command_succeeds", "tests_pass"):
        timeout = step.get("timeout_s")
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            timeout = checkout.tests_timeout_s
        return await run_command(
            str(step.get("command") or ""), checkout.workdir, timeout, checkout.log_file
        )
    if kind == "file_exists":
        return _file_exists(checkout.workdir, step.get("path"))
    if kind == "git_clean":
        run = await run_command(
            "git status --porcelain", checkout.workdir, GIT_TIMEOUT_S, checkout.log_file
        )
        if run.exit_code != 0:
            return run
        dirty = run.output.strip()
        return StepRun(not dirty, 0, f"uncommitted changes:\n{dirty}" if dirty else "clean")
    return await _diff_within(checkout, step.get("paths"))


async def run_command(command: str, cwd: Path, timeout_s: float, log_file: Path) -> StepRun:
    """Run command as an argv list in its own process group; killed after timeout_s."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        return StepRun(False, None, f"cannot split the command into arguments: {exc}")
    if not argv:
        return StepRun(False, None, "the command is empty")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log_file.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                env=dict(os.environ),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    except OSError as exc:
        return StepRun(False, None, f"cannot start {argv[0]}: {exc.strerror or exc}")
    try:
        exit_code: int | None = await asyncio.wait_for(process.wait(), timeout_s)
        note = ""
    except TimeoutError:
        kill_group(process.pid)
        await process.wait()
        exit_code, note = None, f"\n[killed: still running after {timeout_s:g} s]"
    except asyncio.CancelledError:
        kill_group(process.pid)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(process.wait())
        raise
    text, truncated = _tail(log_file, OUTPUT_MAX_CHARS - len(note))
    return StepRun(exit_code == 0, exit_code, text + note, truncated)


def _file_exists(workdir: Path, path: Any) -> StepRun:
    if not isinstance(path, str) or not path:
        return StepRun(False, None, "the step names no path")
    candidate = Path(path)
    if candidate.is_absolute() or ".." in candidate.parts:
        return StepRun(False, None, f"{path} is not a path inside the checkout")
    root = workdir.resolve()
    target = (root / candidate).resolve()
    if target != root and root not in target.parents:
        return StepRun(False, None, f"{path} leads outside the checkout (a symlink)")
    if target.exists():
        return StepRun(True, None, f"{path} exists")
    return StepRun(False, None, f"{path} does not exist")


async def _diff_within(checkout: Checkout, globs: Any) -> StepRun:
    if not isinstance(globs, list) or not globs:
        return StepRun(False, None, "the step names no paths")
    if not checkout.base_commit:
        return StepRun(False, None, "no base commit is known (git start-task did not run)")
    assert checkout.workdir is not None
    try:
        paths = await asyncio.to_thread(changed_paths, checkout.workdir, checkout.base_commit)
    except RuntimeError as exc:
        return StepRun(False, None, str(exc))
    outside = [p for p in paths if not any(glob_match(p, str(g)) for g in globs)]
    if not outside:
        return StepRun(True, None, f"{len(paths)} changed paths, all within {', '.join(globs)}")
    listed = "\n".join(_clean(p) for p in outside)
    text, truncated = listed[-OUTPUT_MAX_CHARS + 40 :], len(listed) > OUTPUT_MAX_CHARS - 40
    return StepRun(False, None, f"changed outside the allowed paths:\n{text}", truncated)


def _tail(path: Path, limit: int) -> tuple[str, bool]:
    """The last `limit` characters of a command's output and whether more was cut."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit * 4))
            text = _clean(handle.read().decode("utf-8", errors="replace")).rstrip()
    except OSError:
        return "", False
    cut = size > limit * 4 or len(text) > limit
    return text[-limit:] if limit > 0 else "", cut


def _clean(text: str) -> str:
    """What the hub stores: no NUL, no lone surrogates."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
