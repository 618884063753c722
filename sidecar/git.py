"""The git wrapper (§6.6).

    python -m sidecar.git [--config PATH] start-task|submit|status '<json args>'

Behaves like the Node ``agentcom-git`` (§6.6): it works in the config's
``repo_dir`` and prints exactly one JSON line, ``{"status":"ok",...}`` with exit
status 0 or ``{"status":"error","error":"<code>",...}`` with exit status 1.
The config is ``--config``, else ``$AGENTCOM_SIDECAR_CONFIG``, else ./config.json.
git steps time out after 60 s, gh steps after 120 s, the whole command after 180 s.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sidecar.branch import (
    branch_name,
    non_conventional,
    pr_body,
    pr_title,
    priority_label,
    risk_of,
    short_agent,
)
from sidecar.config import ConfigError, read_config_file, resolve_path

GIT_TIMEOUT_S = 60
GH_TIMEOUT_S = 120
TOTAL_TIMEOUT_S = 180
MAIN_BRANCHES = ("main", "master")
GH_MISSING_DETAIL = (
    "the branch was pushed, but the GitHub CLI (gh) is not installed: install it from "
    "https://cli.github.com and run `gh auth login`, or open the pull request by hand"
)


USAGE = f"""\
usage: python -m sidecar.git [--config PATH] start-task|submit|status '<json args>'

The sidecar's git wrapper (PROTOCOL.md §6.6), for the sidecar and the woken agent. It
works in the config's repo_dir (a git clone) and prints one JSON line: {{"status":"ok",...}}
with exit status 0, or {{"status":"error","error":"<code>",...}} with exit status 1.

commands:
  start-task  '{{"agent_id","task_id","description"[,"base"]}}': a clean tree, then a
              fresh branch <agent>/<slug> from origin/<base> (default main)
  submit      '{{"agent_id","task_id","task"[,"risk"][,"base"]}}': push the task branch and
              open a pull request with gh against origin/<base> (default the task's
              base_branch, else main; risk {{"tier","reasons"}}: a Risk section and a
              risk:tier-N label)
  status      '{{}}': the branch, commits ahead of origin/main, uncommitted files

Any command also takes "workdir": the checkout to work in instead of repo_dir (the
workspace of a task's repo).

options:
  --config PATH  the sidecar's config.json (default: $AGENTCOM_SIDECAR_CONFIG, else
                 ./config.json)

Time limits: git steps {GIT_TIMEOUT_S} s, gh steps {GH_TIMEOUT_S} s, all {TOTAL_TIMEOUT_S} s.
"""


class CommandError(Exception):
    """Ends a command with `{"status":"error","error":code,...details}`."""

    def __init__(self, code: str, **details: Any) -> None:
        super().__init__(code)
        self.code = code
        self.details = details


class StepFailed(Exception):
    """A git or gh invocation failed; the message says which and why."""


@dataclass(frozen=True)
class RepoContext:
    repo_dir: Path
    reviewer: str
    hub_api_url: str
    deadline: float

    def git(self, *args: str) -> str:
        return self._run("git", args, GIT_TIMEOUT_S, {"GIT_TERMINAL_PROMPT": "0"})

    def gh(self, *args: str) -> str:
        return self._run("gh", args, GH_TIMEOUT_S, {"GH_PROMPT_DISABLED": "1"})

    def _run(
        self, tool: str, args: tuple[str, ...], limit_s: int, extra_env: dict[str, str]
    ) -> str:
        timeout = min(limit_s, self.deadline - time.monotonic())
        if timeout <= 0:
            raise StepFailed(f"{tool} {args[0]} not run: the {TOTAL_TIMEOUT_S} s limit is used up")
        try:
            done = subprocess.run(
                [tool, *args],
                cwd=self.repo_dir,
                env={**os.environ, **extra_env},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise StepFailed(f"{tool} {args[0]} timed out after {round(timeout)} s") from exc
        except OSError as exc:
            raise StepFailed(f"{tool} {args[0]} failed: {exc.strerror}") from exc
        if done.returncode != 0:
            detail = done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}"
            raise StepFailed(f"{tool} {args[0]} failed: {detail}")
        return done.stdout.strip()


def start_task(ctx: RepoContext, args: dict[str, Any]) -> dict[str, Any]:
    """Clean tree → fetch → fresh `<short>/<slug>` branch from origin/<base> (main unless
    `base` names another)."""
    agent_id, task_id = _text(args, "agent_id"), _text(args, "task_id")
    description = _text(args, "description")
    base = _base(ctx, _text(args, "base"))
    dirty = _lines(ctx.git("status", "--porcelain"))
    if dirty:
        raise CommandError("dirty_working_tree", files=dirty)
    try:
        ctx.git("fetch", "origin")
    except StepFailed as exc:
        raise CommandError("fetch_failed", message=str(exc)) from exc
    branch = branch_name(agent_id, description, task_id)
    with contextlib.suppress(StepFailed):
        if ctx.git("rev-parse", "--abbrev-ref", "HEAD") == branch:
            ctx.git("checkout", "--quiet", "--detach")  # a checked-out branch cannot be deleted
    with contextlib.suppress(StepFailed):
        ctx.git("branch", "-D", "--", branch)  # a re-assigned task starts over from the base
    try:
        ctx.git("checkout", "-b", branch, f"origin/{base}")
    except StepFailed as exc:
        raise CommandError("checkout_failed", branch=branch, message=str(exc)) from exc
    base_commit = ctx.git("rev-parse", "--short", "HEAD")
    return {"branch": branch, "base_commit": base_commit, "repo_dir": str(ctx.repo_dir)}


def submit(ctx: RepoContext, args: dict[str, Any]) -> dict[str, Any]:
    """Push the task branch and open a pull request with gh."""
    agent_id, task_id = _text(args, "agent_id"), _text(args, "task_id")
    task = dict(args["task"]) if isinstance(args.get("task"), dict) else {}
    task.setdefault("task_id", task_id)
    # The pull request goes to the branch the task started from (start-task's base).
    base = _base(ctx, _text(args, "base") or _text(task, "base_branch"))
    branch = ctx.git("rev-parse", "--abbrev-ref", "HEAD")
    if branch in MAIN_BRANCHES or branch == base:
        raise CommandError("on_main_branch", branch=branch)
    uncommitted = _lines(ctx.git("status", "--porcelain"))
    if uncommitted:
        print(json.dumps({"warning": "uncommitted_changes", "files": uncommitted}), file=sys.stderr)
    if _commits_ahead(ctx, base) == 0:
        raise CommandError(
            "no_commits", branch=branch, hint="the agent made no commits on this branch"
        )
    try:
        ctx.git("push", "--force-with-lease", "origin", f"HEAD:refs/heads/{branch}")
    except StepFailed as exc:
        raise CommandError("push_failed", branch=branch, message=str(exc)) from exc
    diff_stat = ""
    with contextlib.suppress(StepFailed):
        diff_stat = ctx.git("diff", "--stat", f"origin/{base}...HEAD")
    if shutil.which("gh") is None:
        raise CommandError("gh_not_installed", branch=branch, pushed=True, detail=GH_MISSING_DETAIL)
    risk = risk_of(args.get("risk"))
    pr_url = _open_pull_request(ctx, task, agent_id, branch, base, diff_stat, risk)
    return {"pr_url": pr_url, "branch": branch}


def status(ctx: RepoContext, args: dict[str, Any]) -> dict[str, Any]:
    """Branch, commits ahead of origin/main, diff, uncommitted files, conventional-commit check."""
    branch = ctx.git("rev-parse", "--abbrev-ref", "HEAD")
    uncommitted = _lines(ctx.git("status", "--porcelain"))
    diff_from_main = ""
    with contextlib.suppress(StepFailed):
        diff_from_main = ctx.git("diff", "--stat", "origin/main...HEAD")
    subjects: list[str] = []
    with contextlib.suppress(StepFailed):
        subjects = ctx.git("log", "--format=%s", "origin/main..HEAD").splitlines()
    return {
        "branch": branch,
        "commits_ahead": _commits_ahead(ctx),
        "diff_from_main": diff_from_main,
        "uncommitted_changes": uncommitted,
        "is_clean": not uncommitted,
        "non_conventional_commits": non_conventional(subjects),
    }


COMMANDS = {"start-task": start_task, "submit": submit, "status": status}


def check_args(command: str, args: dict[str, Any]) -> None:
    """Raise missing_args when a command lacks what it needs (checked before the repository)."""
    has = {key for key, value in args.items() if isinstance(value, str) and value}
    if command == "start-task" and ("agent_id" not in has or not has & {"task_id", "description"}):
        raise CommandError(
            "missing_args", hint="start-task requires {agent_id, task_id, description}"
        )
    if command == "submit" and not {"agent_id", "task_id"} <= has:
        raise CommandError("missing_args", hint="submit requires {agent_id, task_id, task}")


def _open_pull_request(
    ctx: RepoContext,
    task: dict[str, Any],
    agent_id: str,
    branch: str,
    base: str,
    diff_stat: str,
    risk: dict[str, Any] | None = None,
) -> str:
    agent_label = f"agent:{short_agent(agent_id)}"
    priority = f"priority:{priority_label(task)}"
    labels = [agent_label, priority] + ([f"risk:tier-{risk['tier']}"] if risk else [])
    for label in labels:
        with contextlib.suppress(StepFailed):
            ctx.gh("label", "create", "--force", "--", label)
    # Task text goes only into argv values written as --flag=value (never read as an option)
    # and into a private temporary file outside the work tree, where the agent could have
    # planted a symlink.
    descriptor, body_path = tempfile.mkstemp(prefix="agentcom-pr-body-", suffix=".md")
    with os.fdopen(descriptor, "w", encoding="utf-8") as body_file:
        body_file.write(pr_body(task, agent_id, diff_stat, ctx.hub_api_url, risk))
    command = ["pr", "create", f"--base={base}", f"--head={branch}", f"--title={pr_title(task)}"]
    command += [f"--body-file={body_path}", *(f"--label={label}" for label in labels)]
    if ctx.reviewer:
        command += [f"--reviewer={ctx.reviewer}"]
    try:
        output = ctx.gh(*command)
    except StepFailed as exc:
        raise CommandError("pr_create_failed", branch=branch, message=str(exc)) from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(body_path)
    lines = output.splitlines()
    return lines[-1].strip() if lines else ""


def _is_branch_name(ctx: RepoContext, name: str) -> bool:
    try:
        ctx.git("check-ref-format", "--branch", name)
    except StepFailed:
        return False
    return True


def _base(ctx: RepoContext, name: str) -> str:
    """The base branch named (main when none), refused unless git takes it as a branch."""
    base = name or "main"
    if base.startswith("-") or not _is_branch_name(ctx, base):
        raise CommandError("invalid_base", base=base)
    return base


def _commits_ahead(ctx: RepoContext, base: str = "main") -> int:
    try:
        return int(ctx.git("rev-list", "--count", f"origin/{base}..HEAD") or 0)
    except (StepFailed, ValueError):
        return 0


def _text(args: dict[str, Any], key: str) -> str:
    value = args.get(key)
    return value if isinstance(value, str) else ""


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _context(config_option: str | None, workdir: str = "") -> RepoContext:
    """The checkout to work in: `workdir` (a task's workspace, sidecar.workspaces) when
    the arguments name one, else the config's repo_dir."""
    config_path_value = config_option or os.environ.get("AGENTCOM_SIDECAR_CONFIG")
    try:
        config_path, raw = read_config_file(config_path_value)
    except ConfigError as exc:
        raise CommandError("config_not_found", detail=exc.detail) from exc
    repo_value = workdir or raw.get("repo_dir")
    if not isinstance(repo_value, str) or not repo_value:
        raise CommandError(
            "missing_repo_dir", hint="set repo_dir in config.json to the agent's git clone"
        )
    repo_dir = resolve_path(config_path.parent, repo_value)
    if not repo_dir.is_dir():
        raise CommandError("repo_dir_not_found", repo_dir=str(repo_dir))
    if not (repo_dir / ".git").exists():
        raise CommandError("not_a_git_repo", repo_dir=str(repo_dir))
    return RepoContext(
        repo_dir=repo_dir,
        reviewer=raw.get("reviewer") if isinstance(raw.get("reviewer"), str) else "",
        hub_api_url=raw.get("hub_api_url") if isinstance(raw.get("hub_api_url"), str) else "",
        deadline=time.monotonic() + TOTAL_TIMEOUT_S,
    )


def _parse_argv(argv: list[str]) -> tuple[str | None, str | None, str | None]:
    """Return (config, command, json args) from `[--config PATH] command [json]`."""
    config: str | None = None
    rest: list[str] = []
    index = 0
    while index < len(argv):
        if argv[index] == "--config" and index + 1 < len(argv):
            config = argv[index + 1]
            index += 2
            continue
        if argv[index].startswith("--config="):
            config = argv[index].split("=", 1)[1]
        else:
            rest.append(argv[index])
        index += 1
    command = rest[0] if rest else None
    return config, command, rest[1] if len(rest) > 1 else None


def run(argv: list[str]) -> tuple[int, dict[str, Any]]:
    """Execute one wrapper command; return (exit status, the JSON answer)."""
    config, command, raw_args = _parse_argv(argv)
    try:
        if command not in COMMANDS:
            raise CommandError("unknown_command", command=command, available=sorted(COMMANDS))
        try:
            args = json.loads(raw_args) if raw_args else {}
        except ValueError as exc:
            raise CommandError("invalid_args", detail=f"the arguments are not JSON: {exc}") from exc
        if not isinstance(args, dict):
            raise CommandError("invalid_args", detail="the arguments must be a JSON object")
        check_args(command, args)
        answer = COMMANDS[command](_context(config, _text(args, "workdir")), args)
    except CommandError as exc:
        return 1, {"status": "error", "error": exc.code, **exc.details}
    except StepFailed as exc:
        return 1, {"status": "error", "error": "git_failed", "message": str(exc)}
    return 0, {"status": "ok", **answer}


def main() -> int:
    if sys.argv[1:2] in (["-h"], ["--help"], ["help"]):
        print(USAGE)
        return 0
    code, answer = run(sys.argv[1:])
    print(json.dumps(answer, ensure_ascii=False), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
