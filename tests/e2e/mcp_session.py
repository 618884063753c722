"""An agent session as Claude Code would run one: the MCP SDK's own stdio client launching
`python -m sidecar mcp` beside a real sidecar process connected to a real hub."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from tests.e2e.agents import wait_until
from tests.sidecar.harness import SELF_WAKE, SidecarProcess, fast_config, sidecar_env

# Every sidecar a test started, killed when the test ends (stop_sidecars).
STARTED: list[SidecarProcess] = []


@pytest.fixture(autouse=True)
def stop_sidecars():
    """Autouse in every module that imports it: no sidecar outlives its test."""
    yield
    while STARTED:
        STARTED.pop().kill()


def start_sidecar(backend, hub, workdir: Path, name: str, **overrides: Any) -> SidecarProcess:
    """A self-waking sidecar: the agent is the test's MCP session, which learns its task
    through current_task."""
    token = backend.create_agents([name])[name]
    directory = workdir / name
    directory.mkdir(parents=True, exist_ok=True)
    config = fast_config(hub.ws_url, agent_id=name, token=token, **SELF_WAKE)
    config.update(overrides)
    sidecar = SidecarProcess(directory, config).start()
    STARTED.append(sidecar)
    return sidecar


async def socket_ready(sidecar: SidecarProcess) -> Path:
    """The sidecar's mcp.sock, once it accepts connections."""
    path = sidecar.dir / "mcp.sock"

    def accepting() -> bool:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(path))
            except OSError:
                return False
            return True

    await wait_until(accepting, timeout=20)
    return path


@contextlib.asynccontextmanager
async def session(sidecar: SidecarProcess, **env: str) -> AsyncIterator[Client]:
    """An MCP client session on `python -m sidecar mcp --config <sidecar's config>`."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "sidecar", "mcp", "--config", str(sidecar.config_path)],
        env=sidecar_env(**env),
        cwd=str(sidecar.dir),
    )
    async with Client(params) as client:
        yield client


async def call(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> Any:
    """The tool's structured answer; raises if the tool reported an error."""
    result = await client.call_tool(tool, arguments or {})
    assert not result.is_error, result.content
    return result.structured_content


async def refused(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> dict:
    """The tool's error (its code in "error"); fails if the call succeeded."""
    result = await client.call_tool(tool, arguments or {})
    assert result.is_error, result.content
    return result.structured_content


def task_env(task_id: str, generation: int) -> dict[str, str]:
    """What a woken session's environment says about its task (PROTOCOL.md §6.4)."""
    return {"AGENTCOM_TASK_ID": task_id, "AGENTCOM_TASK_GENERATION": str(generation)}


async def submit(hub, token: str, **body: Any) -> str:
    status, answer = await hub.ahttp("POST", "/api/tasks", body, token)
    assert status == 201, answer
    return answer["task_id"]


async def record(hub, token: str, task_id: str) -> dict:
    status, answer = await hub.ahttp("GET", f"/api/tasks/{task_id}", token=token)
    assert status == 200, answer
    return answer


async def held(sidecar: SidecarProcess, task_id: str) -> dict:
    """The sidecar's active task once it holds task_id as working."""

    def holding() -> bool:
        with contextlib.suppress(ValueError):
            active = sidecar.queue().get("active") or {}
            return active.get("task_id") == task_id and active.get("status") == "working"
        return False

    await wait_until(holding, timeout=20)
    return sidecar.queue()["active"]


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
