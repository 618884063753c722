"""The tools an agent session calls through ``python -m sidecar mcp`` (PROTOCOL.md §6.8).

One home for each tool's name, description and JSON schema: the MCP server lists them
as written here, and the sidecar checks every call's arguments against the same schema
before anything reaches the hub. The schemas use only the keywords ``check`` knows, so
what the agent reads is exactly what is enforced. Limits follow the hub's (§1): a call
the hub would refuse is refused here first, naming the field.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

AGENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
CHANNEL = r"^#?[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
TASK_ID = r"^task-[0-9a-f]{16}$"
MODEL = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$"
MAX_SAFE_INTEGER = 2**53 - 1
PAYLOAD_MAX_BYTES = 64 * 1024  # a session's message or channel payload (a broadcast's limit)
MAX_DEPTH = 32


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    properties: dict[str, dict[str, Any]]
    required: tuple[str, ...] = ()
    task_bound: bool = False  # acts on the task the sidecar holds (fenced, §6.8)

    @property
    def input_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": self.properties,
            "required": list(self.required),
            "additionalProperties": False,
        }


def _text(max_length: int, description: str, min_length: int = 0) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": min_length,
        "maxLength": max_length,
        "description": description,
    }


def _pattern(pattern: str, max_length: int, description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": pattern,
        "maxLength": max_length,
        "description": description,
    }


def _integer(minimum: int, maximum: int, description: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum, "description": description}


def _payload(description: str) -> dict[str, Any]:
    return {"type": "object", "description": f"{description} (JSON object, at most 64 KiB)"}


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "current_task",
        "The task this agent holds: its description, success criteria, file hints, "
        "verification steps, reports of earlier attempts and the operator's answers to "
        "your questions. Says so when the agent holds no task.",
        {},
        task_bound=True,
    ),
    ToolSpec(
        "report_progress",
        "Tell the hub how far you are with the current task (shown on the dashboard). "
        "Also keeps the task from being taken back as stuck.",
        {
            "text": _text(2000, "what you are doing now", 1),
            "percent": {
                "type": "number",
                "minimum": 0,
                "maximum": 100,
                "description": "how much is done, 0-100",
            },
        },
        ("text",),
        task_bound=True,
    ),
    ToolSpec(
        "ask_operator",
        "Ask a human operator a question about the current task and wait for the answer "
        "(the call returns it). Use it when you cannot go on without a decision. While you "
        "wait, the task's timers are paused. If no answer comes in time the call returns "
        "an error; the answer will then be in current_task's operator_answers.",
        {"question": _text(4000, "the question, self-contained", 1)},
        ("question",),
        task_bound=True,
    ),
    ToolSpec(
        "complete_task",
        "Finish the current task successfully. The sidecar submits your work as it does "
        "for a result file (push and pull request when a repository is configured, then "
        "the task's verification steps, if any) and reports it to the hub.",
        {
            "output": _text(100_000, "what you did and how you checked it", 1),
            "pr_url": _text(2000, "the pull request you opened, if any"),
            "tokens_in": _integer(0, MAX_SAFE_INTEGER, "input tokens spent, if known"),
            "tokens_out": _integer(0, MAX_SAFE_INTEGER, "output tokens spent, if known"),
            "cost_usd": {
                "type": "number",
                "minimum": 0,
                "maximum": 1_000_000,
                "description": "what the work cost in dollars, if known",
            },
            "model": _pattern(MODEL, 128, "the model that did the work, if known"),
        },
        ("output",),
        task_bound=True,
    ),
    ToolSpec(
        "fail_task",
        "Give up the current task, saying why. The hub retries it (perhaps on another "
        "agent) or gives it to the operators.",
        {"reason": _text(2000, "why the task cannot be done", 1)},
        ("reason",),
        task_bound=True,
    ),
    ToolSpec(
        "submit_task",
        "Hand part of your work to another agent: a new task whose parent is your current "
        "task. Returns its task_id; follow it with task_status.",
        {
            "description": _text(10_000, "what the new task must do, self-contained", 1),
            "title": _text(200, "a short title"),
            "needed_capabilities": {
                "type": "array",
                "items": _text(128, "a capability", 1),
                "maxItems": 20,
                "description": "capabilities the agent doing it must have",
            },
            "priority": {
                "type": "string",
                "enum": ["urgent", "high", "normal", "low"],
                "description": "default normal",
            },
            "pinned_to": _pattern(AGENT_ID, 64, "the agent that must do it, if any"),
            "depends_on": {
                "type": "array",
                "items": _pattern(TASK_ID, 21, "a task id"),
                "maxItems": 100,
                "description": "tasks that must be completed before this one starts",
            },
        },
        ("description",),
    ),
    ToolSpec(
        "task_status",
        "The state of a task (one you submitted, say): status, assignee, parent and "
        "children, result or error.",
        {"task_id": _pattern(TASK_ID, 21, "the task's id")},
        ("task_id",),
    ),
    ToolSpec(
        "send_message",
        "Send a direct message to another agent (it lands in its mailbox if it is "
        "offline). Give either text or a payload object.",
        {
            "to": _pattern(AGENT_ID, 64, "the recipient agent's id"),
            "text": _text(10_000, 'the message text (sent as payload {"text": ...})', 1),
            "payload": _payload("the message body"),
        },
        ("to",),
    ),
    ToolSpec(
        "read_mailbox",
        "Messages waiting for this agent, oldest first, from seq `since` on. Reading "
        "deletes nothing: call ack_mailbox with the last seq you handled.",
        {"since": _integer(0, MAX_SAFE_INTEGER, "the last seq already read (default 0)")},
    ),
    ToolSpec(
        "ack_mailbox",
        "Delete this agent's mailbox messages up to and including seq.",
        {"seq": _integer(0, MAX_SAFE_INTEGER, "the last seq handled")},
        ("seq",),
    ),
    ToolSpec(
        "publish",
        "Publish a message on a channel: its subscribers get it (in their mailboxes when "
        "offline) and it stays in the channel's history.",
        {
            "channel": _pattern(CHANNEL, 65, "the channel's name"),
            "payload": _payload("the message body"),
        },
        ("channel", "payload"),
    ),
    ToolSpec(
        "channel_history",
        "A channel's latest messages, oldest first.",
        {
            "channel": _pattern(CHANNEL, 65, "the channel's name"),
            "limit": _integer(1, 200, "how many (default 20)"),
        },
        ("channel",),
    ),
    ToolSpec(
        "list_agents",
        "The agents connected to the hub now, with their capabilities and status.",
        {},
    ),
)
BY_NAME = {spec.name: spec for spec in TOOLS}


@dataclass(frozen=True)
class ArgumentError:
    field: str | None
    error: str  # required, wrong_type, too_long, too_large, out_of_range, invalid_value
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "error": self.error, "detail": self.detail}


def check(spec: ToolSpec, arguments: Any) -> list[ArgumentError]:
    """Every way arguments break spec's schema (or the limits every JSON value has)."""
    if arguments is None:
        arguments = {}
    return _check_value(spec.input_schema, arguments, None)


def _check_value(schema: dict[str, Any], value: Any, field: str | None) -> list[ArgumentError]:
    kind = schema.get("type")
    name = field or "arguments"
    if kind == "object":
        if not isinstance(value, dict):
            return [ArgumentError(field, "wrong_type", f"{name} must be an object")]
        if "properties" not in schema:  # a free payload: bounded, not shaped
            return _check_free(value, name, field)
        errors = []
        for key in schema.get("required", ()):
            if value.get(key) is None:
                errors.append(ArgumentError(key, "required", f"{key} is required"))
        for key, item in value.items():
            sub = schema["properties"].get(key)
            if sub is None:
                errors.append(ArgumentError(key, "invalid_value", f"{key} is not an argument"))
            elif item is not None:
                errors += _check_value(sub, item, _join(field, key))
        return errors
    if kind == "string":
        if not isinstance(value, str):
            return [ArgumentError(field, "wrong_type", f"{name} must be a string")]
        return _check_string(schema, value, field, name)
    if kind in ("integer", "number"):
        integral = isinstance(value, int) or (kind == "number" and isinstance(value, float))
        if isinstance(value, bool) or not integral:
            return [ArgumentError(field, "wrong_type", f"{name} must be a {kind}")]
        if isinstance(value, float) and not math.isfinite(value):
            return [ArgumentError(field, "invalid_value", f"{name} must be finite")]
        if not schema["minimum"] <= value <= schema["maximum"]:
            bounds = f"{schema['minimum']} ... {schema['maximum']}"
            return [ArgumentError(field, "out_of_range", f"{name} must be within {bounds}")]
        return []
    if kind == "array":
        if not isinstance(value, list):
            return [ArgumentError(field, "wrong_type", f"{name} must be a list")]
        if len(value) > schema["maxItems"]:
            return [ArgumentError(field, "too_large", f"{name} holds over {schema['maxItems']}")]
        errors = []
        for index, item in enumerate(value):
            errors += _check_value(schema["items"], item, f"{name}[{index}]")
        return errors
    return [ArgumentError(field, "invalid_value", f"{name} has no known type")]


def _check_string(
    schema: dict[str, Any], value: str, field: str | None, name: str
) -> list[ArgumentError]:
    def invalid(detail: str) -> list[ArgumentError]:
        return [ArgumentError(field, "invalid_value", f"{name} {detail}")]

    limit = schema.get("maxLength")
    if limit is not None and len(value) > limit:
        return [ArgumentError(field, "too_long", f"{name} is over {limit}")]
    if schema.get("minLength") and not value.strip():
        return invalid("must not be empty")
    if _bad_text(value):
        return invalid("holds NUL or a lone surrogate")
    if "pattern" in schema and not re.fullmatch(schema["pattern"].strip("^$"), value):
        return invalid(f"must match {schema['pattern']}")
    if "enum" in schema and value not in schema["enum"]:
        return invalid(f"must be one of {', '.join(schema['enum'])}")
    return []


def _check_free(value: dict[str, Any], name: str, field: str | None) -> list[ArgumentError]:
    """A payload object: at most MAX_DEPTH deep, finite numbers, clean text, 64 KiB."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return [ArgumentError(field, "too_large", f"{name} is nested over {MAX_DEPTH} deep")]
        if isinstance(item, dict):
            for key, child in item.items():
                if _bad_text(key):
                    return [ArgumentError(field, "invalid_value", f"{name} has a bad key")]
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, float) and not math.isfinite(item):
            return [ArgumentError(field, "invalid_value", f"{name} holds a non-finite number")]
        elif isinstance(item, str) and _bad_text(item):
            return [ArgumentError(field, "invalid_value", f"{name} holds NUL or a lone surrogate")]
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > PAYLOAD_MAX_BYTES:
        return [ArgumentError(field, "too_large", f"{name} is over {PAYLOAD_MAX_BYTES} bytes")]
    return []


def _bad_text(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate cannot be sent on
        return True
    return False


def _join(parent: str | None, key: str) -> str:
    return key if parent is None else f"{parent}.{key}"
