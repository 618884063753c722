"""``python -m sidecar mcp``: the stdio MCP server an agent session starts (PROTOCOL.md §6.8).

It holds no token and decides nothing: it lists the tools of sidecar.agenttools and
hands each call to the running sidecar over its local socket, which checks it and acts
as the agent. A session woken for a task has AGENTCOM_TASK_ID and
AGENTCOM_TASK_GENERATION in its environment (§6.4); they go with every call, so a
session whose task was taken away cannot act on the next one. Nothing is written to
stdout but the protocol.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from sidecar import __version__, agenttools
from sidecar.localsocket import ask, socket_path

INSTRUCTIONS = (
    "AgentCom: these tools act as this machine's agent on the AgentCom hub. Start with "
    "current_task; report_progress while you work; ask_operator when you need a human "
    "decision; end with complete_task or fail_task."
)


def session_task() -> dict[str, Any]:
    """The task this session was woken for, from the wake's environment (may be empty)."""
    fence: dict[str, Any] = {}
    task_id = os.environ.get("AGENTCOM_TASK_ID")
    if task_id:
        fence["task_id"] = task_id
        generation = os.environ.get("AGENTCOM_TASK_GENERATION", "")
        if generation.isdigit():
            fence["generation"] = int(generation)
    return fence


def build_server(sidecar_dir: Path, fence: dict[str, Any]) -> Server[Any]:
    path = socket_path(sidecar_dir)
    tools = [
        types.Tool(name=spec.name, description=spec.description, input_schema=spec.input_schema)
        for spec in agenttools.TOOLS
    ]

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        spec = agenttools.BY_NAME.get(params.name)
        request: dict[str, Any] = {"tool": params.name, "arguments": params.arguments or {}}
        if spec is not None and spec.task_bound:
            request.update(fence)
        answer = await ask(path, request)
        return to_result(answer)

    return Server(
        "agentcom",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def to_result(answer: dict[str, Any]) -> types.CallToolResult:
    """A socket answer as the tool's result; a refusal is a tool error naming its code."""
    if answer.get("ok") is True:
        result = answer.get("result")
        structured = result if isinstance(result, dict) else {"result": result}
        text = json.dumps(result, ensure_ascii=False)
        return types.CallToolResult(
            content=[types.TextContent(text=text)], structured_content=structured
        )
    error = {k: v for k, v in answer.items() if k != "ok"}
    text = f"{answer.get('error')}: {answer.get('detail')}"
    if answer.get("errors"):
        text += "\n" + json.dumps(answer["errors"], ensure_ascii=False)
    return types.CallToolResult(
        content=[types.TextContent(text=text)], structured_content=error, is_error=True
    )


def serve(sidecar_dir: Path) -> int:
    server = build_server(sidecar_dir, session_task())

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(main)
    return 0
