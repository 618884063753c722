"""Claude Code's CLI, headless: ``claude -p --output-format stream-json --verbose``.

The prompt goes on stdin, never on the command line. Its stdout is one JSON object
per line: ``{"type":"system","subtype":"init","session_id","model",…}`` first, then
``assistant`` messages (content blocks ``text`` and ``tool_use``, with ``usage``),
``user`` messages carrying tool results, and last ``{"type":"result","subtype",
"is_error","result","session_id","num_turns","duration_ms","total_cost_usd","usage"}``.
A run for a task that already has a session (a verification retry, a recovery after a
restart) continues it with ``--resume <session_id>``.
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
    amount,
    clip,
    count,
    session_id,
)
from sidecar.executors.prompt import build_prompt

HEADLESS_ARGS = ("-p", "--output-format", "stream-json", "--verbose")


class ClaudeStream(StreamParser):
    def __init__(self) -> None:
        super().__init__("claude")
        self._messages: set[str] = set()  # message ids whose usage is counted
        self._result: dict[str, Any] | None = None

    def feed(self, event: dict[str, Any]) -> None:
        figures = self.figures
        kind = event.get("type")
        figures.session_id = session_id(event.get("session_id")) or figures.session_id
        if kind == "system" and event.get("subtype") == "init":
            if isinstance(event.get("model"), str):
                figures.model = clip(event["model"], NAME_MAX_CHARS)
            figures.activity = "started"
        elif kind == "assistant":
            self._assistant(event.get("message"))
        elif kind == "user":
            figures.activity = "tool results"
        elif kind == "result":
            self._result = event
            self._take_result(event)

    def _assistant(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        figures = self.figures
        if figures.model is None and isinstance(message.get("model"), str):
            figures.model = clip(message["model"], NAME_MAX_CHARS)
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                figures.text = clip(block["text"], SNIPPET_MAX_CHARS)
                figures.activity = "writing"
            elif block.get("type") == "tool_use":
                figures.tool_calls += 1
                figures.activity = f"tool: {clip(block.get('name') or '?', NAME_MAX_CHARS)}"
        message_id = message.get("id")
        usage = message.get("usage")
        if isinstance(usage, dict) and message_id not in self._messages:
            if isinstance(message_id, str):
                self._messages.add(message_id)
            figures.tokens_in += _input_tokens(usage)
            figures.tokens_out += count(usage.get("output_tokens")) or 0

    def _take_result(self, event: dict[str, Any]) -> None:
        figures = self.figures
        figures.finished = True
        figures.activity = "finished"
        usage = event.get("usage")
        if isinstance(usage, dict):  # the run's totals replace the running sums
            figures.tokens_in = _input_tokens(usage)
            figures.tokens_out = count(usage.get("output_tokens")) or 0
        figures.cost_usd = amount(event.get("total_cost_usd"))
        figures.execution_ms = count(event.get("duration_ms"))
        figures.iterations = count(event.get("num_turns"))
        if isinstance(event.get("result"), str):
            figures.output = clip(event["result"], OUTPUT_MAX_CHARS)

    def result(self, exit_code: int | None, error_tail: str) -> dict[str, Any]:
        event, figures = self._result, self.figures
        if event is None:
            detail = f": {error_tail}" if error_tail else ""
            return self.failed(
                f"claude_error: exit code {exit_code} without a result event{detail}"
            )
        if event.get("is_error") is True or event.get("subtype") not in (None, "success"):
            subtype = clip(event.get("subtype") or "error", NAME_MAX_CHARS)
            detail = figures.output or clip(event.get("errors") or error_tail, 1_000)
            return self.failed(f"claude_error: {subtype}: {detail}".rstrip(": "))
        return {"status": "success", "output": figures.output or "", **figures.costs()}


def _input_tokens(usage: dict[str, Any]) -> int:
    return sum(
        count(usage.get(key)) or 0
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )


class Claude(Executor):
    name = "claude"
    program = "claude"
    streams = True

    def launch(self, request: RunRequest) -> Launch:
        argv = [self.program_path(request.config), *HEADLESS_ARGS]
        argv += request.config.executor_args
        if request.resume_session:
            argv += ["--resume", request.resume_session]
        return Launch(cwd=request.workdir, argv=tuple(argv), stdin_text=build_prompt(request.task))

    def parser(self, config: SidecarConfig) -> StreamParser:
        return ClaudeStream()  # its init event names the model


EXECUTOR = Claude()
