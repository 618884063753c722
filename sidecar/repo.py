"""Calling the git wrapper (``python -m sidecar.git``) from the running sidecar.

The wrapper runs as a child process so that its 180 s limit and a shutdown can
kill it together with any git or gh it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sidecar.config import SidecarConfig
from sidecar.shell import kill_group

PACKAGE_PARENT = Path(__file__).resolve().parent.parent
# The error code of an answer when the wrapper process could not be started at all.
NOT_STARTED = "git_wrapper_not_started"


async def run_git_wrapper(
    config: SidecarConfig, command: str, args: dict[str, Any]
) -> dict[str, Any]:
    """Run one wrapper command; always return its JSON answer or an error object."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_PARENT), env.get("PYTHONPATH")]))
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sidecar.git",
            "--config",
            str(config.config_path),
            command,
            json.dumps(args),
            cwd=config.repo_dir or config.sidecar_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:  # e.g. repo_dir is gone: the wrapper never ran
        return {"status": "error", "error": NOT_STARTED, "command": command, "detail": str(exc)}
    try:
        stdout, stderr = await asyncio.wait_for(
            process.communicate(), timeout=config.git_timeout_ms / 1000
        )
    except TimeoutError:
        kill_group(process.pid)
        await process.wait()
        return {"status": "error", "error": "git_timeout", "command": command}
    except asyncio.CancelledError:
        kill_group(process.pid)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(process.wait())
        raise
    return _answer(stdout, stderr, command)


def _answer(stdout: bytes, stderr: bytes, command: str) -> dict[str, Any]:
    for line in reversed(stdout.decode("utf-8", errors="replace").splitlines()):
        with contextlib.suppress(ValueError):
            answer = json.loads(line)
            if isinstance(answer, dict) and "status" in answer:
                return answer
    return {
        "status": "error",
        "error": "git_wrapper_failed",
        "command": command,
        "detail": stderr.decode("utf-8", errors="replace").strip()[-2000:],
    }
