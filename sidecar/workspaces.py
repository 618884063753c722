"""Where a task's work happens on this machine.

One seam for every part of the sidecar that touches the task's files (the git
wrapper, the executors, verification): ask here, never read ``repo_dir`` directly.

A task whose ``task_assign`` carries a ``repo_url`` (PROTOCOL.md §6.7) works in a
workspace of that repo under the sidecar's own directory,
``<sidecar_dir>/workspaces/<name>-<hash>``: cloned on first use, reused after (the git
wrapper's start-task fetches and branches from the base for each task). The directory
is recorded with the local task (``workdir``), so a task recovered after a restart
works where it began. Tasks without a URL use ``repo_dir``, as one-repo setups always
have.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from sidecar.config import SidecarConfig
from sidecar.shell import kill_group

WORKSPACES_DIR = "workspaces"
NAME_CHARS = 40
# The transports a clone may use: never ext:: (it runs a command) nor fd::.
ALLOWED_PROTOCOLS = "file:git:http:https:ssh"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
ERROR_CHARS = 500


class WorkspaceError(Exception):
    """The workspace could not be made ready; the message is the task's failure reason."""


def workspace_name(url: str) -> str:
    """A directory name for `url`: its last path part made safe, then a hash of the
    whole URL, so two repos never share one and no name can leave the directory."""
    tail = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    tail = tail.removesuffix(".git")
    safe = _UNSAFE_NAME.sub("-", tail).strip(".-")[:NAME_CHARS] or "repo"
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]
    return f"{safe}-{digest}"


def workspace_dir(config: SidecarConfig, url: str) -> Path:
    return config.sidecar_dir / WORKSPACES_DIR / workspace_name(url)


def task_workdir(config: SidecarConfig, task: dict[str, Any] | None = None) -> Path | None:
    """The git checkout the task works in, or None when this sidecar has none: the
    recorded workspace, the workspace of its `repo_url`, else repo_dir."""
    if task:
        recorded = task.get("workdir")
        if isinstance(recorded, str) and recorded:
            return Path(recorded)
        url = task.get("repo_url")
        if isinstance(url, str) and url:
            return workspace_dir(config, url)
    return config.repo_dir


async def ensure_workspace(config: SidecarConfig, url: str) -> tuple[Path, bool]:
    """The workspace of `url`, cloned now if it is not there yet: (directory, cloned).

    The clone goes to a temporary directory beside it and is renamed into place, so
    a clone cut short (timeout, crash) never looks like a workspace. Raises
    WorkspaceError with a `sidecar_error: ...` reason."""
    directory = workspace_dir(config, url)
    if (directory / ".git").is_dir():
        return directory, False
    directory.parent.mkdir(parents=True, exist_ok=True)
    partial = directory.with_name(directory.name + ".cloning")
    shutil.rmtree(partial, ignore_errors=True)
    await _git_clone(config, url, partial)
    if directory.exists():  # not a checkout (no .git): whatever it is, it is in the way
        shutil.rmtree(directory, ignore_errors=True)
    partial.rename(directory)
    return directory, True


async def _git_clone(config: SidecarConfig, url: str, target: Path) -> None:
    timeout_s = config.git_timeout_ms / 1000
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS}
    try:
        process = await asyncio.create_subprocess_exec(
            "git",
            "clone",
            "--quiet",
            "--",
            url,
            str(target),
            cwd=target.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise WorkspaceError(f"sidecar_error: cannot run git clone: {exc.strerror}") from exc
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=timeout_s)
    except TimeoutError:
        kill_group(process.pid)
        await process.wait()
        shutil.rmtree(target, ignore_errors=True)
        raise WorkspaceError(
            f"sidecar_error: git clone of {url} timed out after {round(timeout_s)} s"
        ) from None
    except asyncio.CancelledError:
        kill_group(process.pid)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(process.wait())
        raise
    if process.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        detail = stderr.decode("utf-8", errors="replace").strip()[-ERROR_CHARS:]
        raise WorkspaceError(f"sidecar_error: git clone of {url} failed: {detail}")
