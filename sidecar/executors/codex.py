"""OpenAI's Codex CLI, non-interactive: ``codex exec --json -`` (prompt on stdin).

Its stdout is one JSON object per line: ``{"type":"thread.started","thread_id"}``,
``turn.started``, ``item.started``/``item.updated``/``item.completed`` with an
``item`` of a ``type`` such as ``agent_message`` (``text``), ``reasoning``,
``command_execution`` (``command``), ``file_change``, ``mcp_tool_call``,
``web_search``, then ``{"type":"turn.completed","usage":{"input_tokens",
"cached_input_tokens","output_tokens"}}`` or ``turn.failed`` (``error.message``);
``error`` reports a failure of the stream itself. The result is the last agent
message; Codex reports no cost, so ``cost_usd`` is left to the hub's price table. A run
for a task that already has a thread continues it: ``codex exec --json resume <id> -``.
"""

from __future__ import annotations

from typing import Any

from sidecar.config import SidecarConfig
from sidecar.executors.base import (
    NAME_MAX_CHARS,
    OUTPUT_MAX_CHARS,
    SNIPPET_MAX_CHARS,
    Executor,
    Launch,
    RunRequest,
    StreamParser,
    clip,
    count,
    model_in_args,
    session_id,
)
from sidecar.executors.prompt import build_prompt

TOOL_ITEMS = {
    "command_execution": "command",
    "file_change": "file change",
    "mcp_tool_call": "tool",
    "web_search": "web search",
}


class CodexStream(StreamParser):
    def __init__(self) -> None:
        super().__init__("codex")
        self._turns = 0
        self._completed = False

    def feed(self, event: dict[str, Any]) -> None:
        figures = self.figures
        kind = event.get("type")
        if kind == "thread.started":
            figures.session_id = session_id(event.get("thread_id")) or figures.session_id
            figures.activity = "started"
        elif kind == "turn.started":
            self._turns += 1
            figures.iterations = self._turns
        elif kind in ("item.started", "item.updated", "item.completed"):
            self._item(event.get("item"), completed=kind == "item.completed")
        elif kind == "turn.completed":
            self._completed = True
            figures.error = None
            figures.finished = True
            figures.activity = "finished"
            usage = event.get("usage")
            if isinstance(usage, dict):
                figures.tokens_in += count(usage.get("input_tokens")) or 0
                figures.tokens_out += count(usage.get("output_tokens")) or 0
        elif kind in ("turn.failed", "error"):
            error = event.get("error") if kind == "turn.failed" else event
            message = error.get("message") if isinstance(error, dict) else error
            figures.error = clip(message or kind, 1_000)
            figures.activity = "failed"

    def _item(self, item: Any, *, completed: bool) -> None:
        if not isinstance(item, dict):
            return
        figures = self.figures
        kind = item.get("type") or item.get("item_type")
        if kind == "agent_message" and isinstance(item.get("text"), str):
            figures.text = clip(item["text"], SNIPPET_MAX_CHARS)
            figures.activity = "writing"
            if completed:
                figures.output = clip(item["text"], OUTPUT_MAX_CHARS)
        elif kind == "reasoning":
            figures.activity = "reasoning"
        elif kind in TOOL_ITEMS:
            detail = item.get("command") or item.get("tool") or item.get("query") or ""
            figures.activity = clip(f"{TOOL_ITEMS[kind]}: {detail}".rstrip(": "), NAME_MAX_CHARS)
            if not completed:
                figures.tool_calls += 1

    def result(self, exit_code: int | None, error_tail: str) -> dict[str, Any]:
        figures = self.figures
        if figures.error is not None:
            return self.failed(f"codex_error: {figures.error}")
        if not self._completed or exit_code != 0:
            detail = f": {error_tail}" if error_tail else ""
            return self.failed(
                f"codex_error: exit code {exit_code} without a completed turn{detail}"
            )
        return {"status": "success", "output": figures.output or "", **figures.costs()}


class Codex(Executor):
    name = "codex"
    program = "codex"
    streams = True

    def launch(self, request: RunRequest) -> Launch:
        argv = [self.program_path(request.config), "exec", "--json"]
        argv += request.config.executor_args
        if request.resume_session:
            argv += ["resume", request.resume_session]
        argv.append("-")  # the prompt comes from stdin
        return Launch(cwd=request.workdir, argv=tuple(argv), stdin_text=build_prompt(request.task))

    def parser(self, config: SidecarConfig) -> StreamParser:
        stream = CodexStream()
        # Its events do not name the model; the one asked for on its command line is it.
        stream.figures.model = model_in_args(config.executor_args)
        return stream


EXECUTOR = Codex()
