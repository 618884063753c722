"""What a task changed, measured with git against the commit its branch started from.

``diff_shape`` is what ``task_classify`` sends (PROTOCOL.md §3.2): files changed,
lines added and removed, the paths (at most PATHS_MAX, flagged ``paths_truncated``),
and the dependency files, tests and migrations among them. ``changed_paths`` is what a
``diff_within`` step checks: every path that differs from the base commit, committed
or not, untracked files included.
"""

from __future__ import annotations

import re
import subprocess
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any

PATHS_MAX = 200  # the hub's limit for each list
PATH_MAX_CHARS = 1_024
GIT_TIMEOUT_S = 60

DEPENDENCY_NAMES = frozenset(
    {
        "pyproject.toml",
        "setup.py",
        "setup.cfg",
        "Pipfile",
        "Pipfile.lock",
        "poetry.lock",
        "uv.lock",
        "package.json",
        "package-lock.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "go.mod",
        "go.sum",
        "Cargo.toml",
        "Cargo.lock",
        "Gemfile",
        "Gemfile.lock",
        "composer.json",
        "composer.lock",
        "pom.xml",
        "build.gradle",
        "build.gradle.kts",
    }
)
REQUIREMENTS = re.compile(r"requirements[\w.-]*\.(txt|in)")
TEST_NAME = re.compile(r"(test_.*|.*_test\.\w+|.*\.(test|spec)\.\w+|conftest\.py)")
TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec"})
MIGRATION_DIRS = ("migrations", "alembic", "migrate")
# What the hub refuses in a path (control characters, absolute, option-like, `..`).
UNREPORTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]|[^\S ]|^[/~-]|^[A-Za-z]:|\\")


def glob_match(path: str, pattern: str) -> bool:
    """fnmatch, where `*` also crosses `/`; a leading `**/` may match nothing, so
    `**/*.md` matches `README.md` too (the hub's tasks.risk uses the same rule)."""
    if fnmatchcase(path, pattern):
        return True
    return pattern.startswith("**/") and fnmatchcase(path, pattern[3:])


def is_dependency_file(path: str) -> bool:
    name = PurePosixPath(path).name
    return name in DEPENDENCY_NAMES or bool(REQUIREMENTS.fullmatch(name))


def is_test(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return bool(TEST_DIRS & set(parts[:-1])) or bool(TEST_NAME.fullmatch(parts[-1]))


def is_migration(path: str) -> bool:
    return any(part in MIGRATION_DIRS for part in PurePosixPath(path).parts[:-1])


def _git(workdir: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-c", "core.quotepath=off", *args],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"git {args[0]} failed: {exc}") from exc
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip()[-500:]
        raise RuntimeError(f"git {args[0]} failed: {detail or done.returncode}")
    return done.stdout.decode("utf-8", "replace")


def changed_paths(workdir: Path, base_commit: str) -> list[str]:
    """Every path that differs from base_commit in the work tree, untracked ones too."""
    tracked = _git(workdir, "diff", "--name-only", "-z", "--no-renames", base_commit, "--")
    untracked = _git(workdir, "ls-files", "-z", "--others", "--exclude-standard")
    return sorted({p for p in (tracked + untracked).split("\x00") if p})


def diff_shape(workdir: Path, base_commit: str) -> dict[str, Any]:
    """The committed change from base_commit to HEAD, in the hub's DiffShape."""
    numstat = _git(workdir, "diff", "--numstat", "-z", "--no-renames", base_commit, "HEAD", "--")
    added = removed = files = 0
    paths: list[str] = []
    for entry in numstat.split("\x00"):
        fields = entry.split("\t", 2)
        if len(fields) != 3:
            continue
        files += 1
        added += int(fields[0]) if fields[0].isdigit() else 0  # "-" for a binary file
        removed += int(fields[1]) if fields[1].isdigit() else 0
        paths.append(fields[2])
    reportable = [p for p in paths if len(p) <= PATH_MAX_CHARS and not _unreportable(p)]

    def bounded(selected: list[str]) -> list[str]:
        return selected[:PATHS_MAX]

    return {
        "files_changed": files,
        "lines_added": added,
        "lines_removed": removed,
        "paths": bounded(reportable),
        "paths_truncated": len(reportable) != len(paths) or len(reportable) > PATHS_MAX,
        "dependency_files": bounded([p for p in reportable if is_dependency_file(p)]),
        "tests_touched": bounded([p for p in reportable if is_test(p)]),
        "migrations_touched": bounded([p for p in reportable if is_migration(p)]),
    }


def _unreportable(path: str) -> bool:
    return bool(UNREPORTABLE.search(path)) or ".." in path.split("/")
