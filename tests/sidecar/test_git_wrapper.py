"""`python -m sidecar.git` against a real clone of a bare origin, and the naming rules."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from sidecar.branch import (
    branch_name,
    non_conventional,
    pr_title,
    priority_label,
    short_agent,
    slugify,
)
from tests.sidecar.harness import PYTHON, git, make_clone, path_without_gh, sidecar_env

GIT = shutil.which("git")
pytestmark = pytest.mark.skipif(GIT is None, reason="git is not installed")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A clone of a bare origin whose main has one commit; config.json points at the clone."""
    clone = make_clone(tmp_path)
    (tmp_path / "config.json").write_text(
        json.dumps({"repo_dir": "repo", "hub_api_url": "http://hub"})
    )
    return clone


def wrapper(repo: Path, command: str, args: object | None = None, **env: str) -> tuple[int, dict]:
    argv = [PYTHON, "-m", "sidecar.git", "--config", str(repo.parent / "config.json"), command]
    if args is not None:
        argv.append(json.dumps(args))
    done = subprocess.run(
        argv, cwd=repo, env=sidecar_env(**env), capture_output=True, text=True, timeout=60
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout + done.stderr
    return done.returncode, json.loads(lines[0])


START_ARGS = {
    "agent_id": "gcu-sleeper",
    "task_id": "task-3f9a0c1d2e4b5a67",
    "description": "Fix the flaky login test!",
    "metadata": {},
}


def test_start_task_branches_from_the_latest_origin_main(repo, tmp_path):
    other = tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(tmp_path / "origin.git"), str(other))
    (other / "new.txt").write_text("newer main\n")
    git(other, "add", "new.txt")
    git(other, "commit", "--quiet", "-m", "feat: newer")
    git(other, "push", "--quiet", "origin", "main")

    code, answer = wrapper(repo, "start-task", START_ARGS)

    assert code == 0
    assert answer == {
        "status": "ok",
        "branch": "gcu/fix-the-flaky-login-test",
        "base_commit": git(other, "rev-parse", "--short", "HEAD"),
        "repo_dir": str(repo),
    }
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "gcu/fix-the-flaky-login-test"


def test_start_task_twice_restarts_the_branch(repo):
    wrapper(repo, "start-task", START_ARGS)

    code, answer = wrapper(repo, "start-task", START_ARGS)

    assert code == 0 and answer["branch"] == "gcu/fix-the-flaky-login-test"


def test_start_task_refuses_a_dirty_tree(repo):
    (repo / "scratch.txt").write_text("x")

    code, answer = wrapper(repo, "start-task", START_ARGS)

    assert code == 1
    assert answer == {"status": "error", "error": "dirty_working_tree", "files": ["?? scratch.txt"]}


def test_missing_arguments_are_named(repo):
    code, answer = wrapper(repo, "start-task", {"task_id": "t"})
    submit_code, submit_answer = wrapper(repo, "submit", {"agent_id": "a"})

    assert (code, answer["error"]) == (1, "missing_args")
    assert (submit_code, submit_answer["error"]) == (1, "missing_args")


def test_submit_without_commits_is_no_commits(repo):
    wrapper(repo, "start-task", START_ARGS)

    code, answer = wrapper(repo, "submit", {"agent_id": "gcu-sleeper", "task_id": "t", "task": {}})

    assert code == 1
    assert answer["error"] == "no_commits"


def test_submit_on_main_is_refused(repo):
    code, answer = wrapper(repo, "submit", {"agent_id": "gcu-sleeper", "task_id": "t"})

    assert (code, answer["error"], answer["branch"]) == (1, "on_main_branch", "main")


def test_submit_pushes_the_branch_and_explains_a_missing_gh(repo, tmp_path):
    wrapper(repo, "start-task", START_ARGS)
    (repo / "login.py").write_text("fixed = True\n")
    git(repo, "add", "login.py")
    git(repo, "commit", "--quiet", "-m", "fix: flaky login")
    task = {"task_id": "task-3f9a0c1d2e4b5a67", "description": "Fix the flaky login test!"}

    code, answer = wrapper(
        repo,
        "submit",
        {"agent_id": "gcu-sleeper", "task_id": task["task_id"], "task": task},
        PATH=path_without_gh(tmp_path),
    )

    pushed = git(tmp_path / "origin.git", "rev-parse", "refs/heads/gcu/fix-the-flaky-login-test")
    assert pushed == git(repo, "rev-parse", "HEAD")
    assert code == 1
    assert answer["error"] == "gh_not_installed"
    assert answer["branch"] == "gcu/fix-the-flaky-login-test"
    assert "open the pull request by hand" in answer["detail"]
    assert not (repo / ".pr-body.tmp").exists()


def test_status_reports_branch_commits_and_conventions(repo):
    wrapper(repo, "start-task", START_ARGS)
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "--quiet", "-m", "fix(login): stop flaking")
    (repo / "b.txt").write_text("b\n")
    git(repo, "add", "b.txt")
    git(repo, "commit", "--quiet", "-m", "did some stuff")
    (repo / "c.txt").write_text("c\n")

    code, answer = wrapper(repo, "status")

    assert code == 0
    assert answer["branch"] == "gcu/fix-the-flaky-login-test"
    assert answer["commits_ahead"] == 2
    assert "a.txt" in answer["diff_from_main"]
    assert answer["uncommitted_changes"] == ["?? c.txt"]
    assert answer["is_clean"] is False
    assert answer["non_conventional_commits"] == ["did some stuff"]


def test_unknown_command_and_bad_json_are_errors(repo):
    unknown_code, unknown = wrapper(repo, "merge", {})
    bad_code, bad = wrapper(repo, "status", None)
    argv = [
        PYTHON,
        "-m",
        "sidecar.git",
        "--config",
        str(repo.parent / "config.json"),
        "status",
        "{",
    ]
    done = subprocess.run(argv, cwd=repo, env=sidecar_env(), capture_output=True, text=True)

    assert (unknown_code, unknown["error"]) == (1, "unknown_command")
    assert (bad_code, bad["status"]) == (0, "ok")  # status needs no arguments
    assert (done.returncode, json.loads(done.stdout)["error"]) == (1, "invalid_args")


def test_missing_repo_dir_is_reported(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    done = subprocess.run(
        [PYTHON, "-m", "sidecar.git", "status"],
        cwd=tmp_path,
        env=sidecar_env(AGENTCOM_SIDECAR_CONFIG=str(tmp_path / "config.json")),
        capture_output=True,
        text=True,
    )

    assert done.returncode == 1
    assert json.loads(done.stdout)["error"] == "missing_repo_dir"


@pytest.mark.parametrize(
    ("agent_id", "description", "expected"),
    [
        ("gcu-sleeper", "Fix the flaky login test", "gcu/fix-the-flaky-login-test"),
        (
            "verylongagentname-x",
            "Add  feature: OAuth2 -- login",
            "verylong/add-feature-oauth2-login",
        ),
        ("solo", "  --Trim me--  ", "solo/trim-me"),
        ("a", "x" * 39 + " yz", "a/" + "x" * 39),
        ("a", "!!!", "a/task-1"),
        ("a", "Ünïcode café", "a/ncode-caf"),
    ],
)
def test_branch_naming_rule(agent_id, description, expected):
    assert branch_name(agent_id, description, "task-1") == expected


def test_slug_is_cut_to_forty_characters():
    assert len(slugify("word " * 30)) <= 40


def test_pr_title_prefers_the_title_then_cuts_the_description():
    long_description = "d" * 61

    assert pr_title({"title": "Short title", "description": long_description}) == "Short title"
    assert pr_title({"description": long_description}) == "d" * 57 + "..."
    assert pr_title({"description": "d" * 60}) == "d" * 60


def test_priority_label_order():
    assert priority_label({"metadata": {"priority": "p1"}, "priority": 0}) == "p1"
    assert priority_label({"priority": 0}) == "urgent"
    assert priority_label({}) == "normal"


def test_conventional_commit_check():
    subjects = ["feat: a", "fix(core)!: b", "chore(x.y-z): c", "Feat: no", "feat:nospace", "wip"]

    assert non_conventional(subjects) == ["Feat: no", "feat:nospace", "wip"]


GH_RECORDER = """#!{python}
import json, os, sys
args = sys.argv[1:]
record = {{"args": args}}
for arg in args:
    if arg.startswith("--body-file="):
        path = arg.split("=", 1)[1]
        record["body"] = open(path, encoding="utf-8").read()
        record["body_file"] = path
with open({log!r}, "a", encoding="utf-8") as log:
    log.write(json.dumps(record) + "\\n")
if args[:2] == ["pr", "create"]:
    print("https://github.example/pr/1")
"""


def test_hostile_task_text_reaches_gh_as_values_never_as_options(repo, tmp_path):
    bin_dir = tmp_path / "bin-gh"
    bin_dir.mkdir()
    log = tmp_path / "gh-calls.jsonl"
    (bin_dir / "gh").write_text(GH_RECORDER.format(python=PYTHON, log=str(log)))
    (bin_dir / "gh").chmod(0o755)
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    wrapper(repo, "start-task", START_ARGS)
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "--quiet", "-m", "fix: a")
    (repo / ".pr-body.tmp").symlink_to(victim)  # planted by the agent in its work tree
    title = "--repo=evil/repo $(touch pwned) `id`"
    description = "line 1\n--base=evil\n$(touch pwned); rm -rf ~ 'quoted' \"double\""
    task = {
        "task_id": "task-3f9a0c1d2e4b5a67",
        "title": title,
        "description": description,
        "metadata": {"priority": "--help; touch pwned"},
    }

    code, answer = wrapper(
        repo,
        "submit",
        {"agent_id": "gcu-sleeper", "task_id": task["task_id"], "task": task},
        PATH=f"{bin_dir}:{path_without_gh(tmp_path)}",
    )

    calls = [json.loads(line) for line in log.read_text().splitlines()]
    create = next(call for call in calls if call["args"][:2] == ["pr", "create"])
    assert (code, answer["pr_url"]) == (0, "https://github.example/pr/1")
    assert f"--title={title}" in create["args"]
    assert "--label=priority:normal" in create["args"]
    assert description in create["body"]
    assert not create["body_file"].startswith(str(repo))
    assert victim.read_text() == "untouched"
    labels = [call["args"] for call in calls if call["args"][:2] == ["label", "create"]]
    assert ["label", "create", "--force", "--", "priority:normal"] in labels
    assert not any(path.name == "pwned" for path in tmp_path.rglob("pwned"))


@pytest.mark.parametrize(
    ("agent_id", "short"),
    [("gcu-sleeper", "gcu"), ("-x-y", "agent"), ("../../etc", "etc"), ("a b;c$d.e", "abcde")],
)
def test_the_short_agent_name_is_a_safe_ref_component(agent_id, short):
    assert short_agent(agent_id) == short


def test_a_task_started_from_another_base_opens_its_pull_request_against_it(repo, tmp_path):
    git(repo, "checkout", "--quiet", "-b", "develop")
    (repo / "dev.txt").write_text("dev\n")
    git(repo, "add", "dev.txt")
    git(repo, "commit", "--quiet", "-m", "chore: develop moves ahead of main")
    git(repo, "push", "--quiet", "origin", "develop")
    git(repo, "checkout", "--quiet", "main")
    bin_dir = tmp_path / "bin-gh"
    bin_dir.mkdir()
    log = tmp_path / "gh-calls.jsonl"
    (bin_dir / "gh").write_text(GH_RECORDER.format(python=PYTHON, log=str(log)))
    (bin_dir / "gh").chmod(0o755)
    wrapper(repo, "start-task", {**START_ARGS, "base": "develop"})
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "--quiet", "-m", "fix: a")
    task = {"task_id": START_ARGS["task_id"], "description": "x", "base_branch": "develop"}

    code, answer = wrapper(
        repo,
        "submit",
        {"agent_id": "gcu-sleeper", "task_id": task["task_id"], "task": task},
        PATH=f"{bin_dir}:{path_without_gh(tmp_path)}",
    )

    calls = [json.loads(line) for line in log.read_text().splitlines()]
    create = next(call for call in calls if call["args"][:2] == ["pr", "create"])
    assert code == 0, answer
    assert "--base=develop" in create["args"]
    # The diff in the body is the task's own change, not develop's lead over main.
    assert "a.txt" in create["body"] and "dev.txt" not in create["body"]


def test_submit_refuses_a_base_git_would_read_as_an_option(repo):
    wrapper(repo, "start-task", START_ARGS)
    task = {"task_id": START_ARGS["task_id"], "description": "x", "base_branch": "--upload-pack=x"}

    code, answer = wrapper(
        repo, "submit", {"agent_id": "gcu-sleeper", "task_id": task["task_id"], "task": task}
    )

    assert (code, answer["error"]) == (1, "invalid_base")
