"""The one interface every executor implements, and the figures a run reports.

An executor says how the agent is run for a task: an argv list (never a shell line
holding task text) or, for the OpenClaw wake, the shell template as today, the prompt
on stdin, and, for an executor whose CLI writes JSON lines on stdout, a parser for
them. Executors whose agent reports through result files (``shell``, ``openclaw``)
do not stream; the sidecar then waits for ``<task_id>.json`` as for a wake_command.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sidecar.config import SidecarConfig
from sidecar.workspaces import task_workdir

# Bounds on what a run's stream may put into a frame (the hub takes 256 KiB of JSON).
OUTPUT_MAX_CHARS = 32_000
SNIPPET_MAX_CHARS = 300
NAME_MAX_CHARS = 120
REASON_MAX_CHARS = 1_500
# A session id goes back onto a command line (--resume): it must not read as an option.
SESSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def session_id(value: Any) -> str | None:
    """value if it has the shape of a session id, else None."""
    return value if isinstance(value, str) and SESSION_PATTERN.fullmatch(value) else None


def clip(value: Any, limit: int) -> str:
    """value as one line of text, cut to limit characters (with an ellipsis when cut)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split()) if limit <= SNIPPET_MAX_CHARS else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def model_in_args(args: tuple[str, ...]) -> str | None:
    """The model named by ``--model X``, ``--model=X`` or ``-m X`` in args, if any."""
    for index, argument in enumerate(args):
        if argument.startswith("--model="):
            return clip(argument.split("=", 1)[1], NAME_MAX_CHARS)
        if argument in ("--model", "-m") and index + 1 < len(args):
            return clip(args[index + 1], NAME_MAX_CHARS)
    return None


def count(value: Any) -> int | None:
    """value if it is a non-negative integer (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def amount(value: Any) -> float | None:
    """value if it is a finite non-negative number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if 0 <= number < 1e12 else None


@dataclass
class RunFigures:
    """What a run cost and produced, filled in by a stream parser as events arrive."""

    executor: str
    model: str | None = None
    session_id: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    execution_ms: int | None = None
    iterations: int | None = None
    output: str | None = None
    error: str | None = None  # set when the CLI reported a failure
    events: int = 0
    tool_calls: int = 0
    activity: str | None = None  # the latest thing it is doing, one short line
    text: str | None = None  # the latest assistant text, cut
    finished: bool = False  # the stream's final event arrived
    extra: dict[str, Any] = field(default_factory=dict)

    def progress(self) -> dict[str, Any]:
        """The task_progress value: what it is doing and the tokens so far (bounded)."""
        value: dict[str, Any] = {
            "executor": self.executor,
            "events": self.events,
            "tool_calls": self.tool_calls,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
        }
        for key in ("activity", "text", "model", "session_id", "cost_usd", "iterations"):
            if getattr(self, key) is not None:
                value[key] = getattr(self, key)
        return value

    def costs(self) -> dict[str, Any]:
        """The additive result fields (PROTOCOL.md §6.5); unknown values left out."""
        value: dict[str, Any] = {
            "executor": self.executor,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "tokens_used": self.tokens_in + self.tokens_out,
        }
        for key in ("model", "cost_usd", "execution_ms", "iterations", "session_id"):
            if getattr(self, key) is not None:
                value[key] = getattr(self, key)
        return value


class StreamParser(ABC):
    """Reads one run's JSON-lines events; never raises on what the CLI writes."""

    def __init__(self, executor: str) -> None:
        self.figures = RunFigures(executor)

    @abstractmethod
    def feed(self, event: dict[str, Any]) -> None:
        """Take one parsed event into figures."""

    @abstractmethod
    def result(self, exit_code: int | None, error_tail: str) -> dict[str, Any]:
        """The result file object once the process has exited."""

    def failed(self, reason: str) -> dict[str, Any]:
        return {
            "status": "failed",
            "reason": clip(reason, REASON_MAX_CHARS),
            **self.figures.costs(),
        }


@dataclass(frozen=True)
class Launch:
    """How to run the agent for one task: argv (no shell) or a shell template, never both."""

    cwd: Path
    argv: tuple[str, ...] = ()
    shell_template: str | None = None
    stdin_text: str | None = None  # the prompt, for executors that read it from stdin


@dataclass(frozen=True)
class RunRequest:
    """What an executor gets to build its Launch from."""

    config: SidecarConfig
    task: dict[str, Any]  # the local task, as written to the task file
    task_file: Path
    resume_session: str | None = None  # a previous run's session to continue

    @property
    def workdir(self) -> Path:
        """The task's working directory: its checkout, else the sidecar directory."""
        return task_workdir(self.config, self.task) or self.config.sidecar_dir


class Executor(ABC):
    """One way of running an agent. A module in sidecar/executors defining EXECUTOR adds one."""

    name: str = ""
    # The default program, looked up on PATH unless executor_path names another.
    program: str | None = None
    # True: the sidecar reads the run's JSON lines (parser); False: result files.
    streams: bool = False

    @abstractmethod
    def launch(self, request: RunRequest) -> Launch:
        """The command for request; task text only ever in stdin_text or the task file."""

    def parser(self, config: SidecarConfig) -> StreamParser:
        """A parser for one run's stdout (only called when streams is True)."""
        raise NotImplementedError(f"the {self.name} executor reports through result files")

    def program_path(self, config: SidecarConfig) -> str:
        return config.executor_path or self.program or self.name
