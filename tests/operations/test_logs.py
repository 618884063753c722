"""The hub's log lines: JSON with context, a readable console form, secrets masked."""

import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentcom_site.core import logs
from agentcom_site.core.metrics import OTHER, BoundedLabel

TOKEN = "ab" * 32


def emit(formatter: logging.Formatter, message: str, *args, **extra) -> str:
    record = logging.LogRecord("agentcom.test", logging.INFO, __file__, 1, message, args, None)
    for name, value in extra.items():
        setattr(record, name, value)
    logs.ContextFilter().filter(record)
    logs.RedactionFilter().filter(record)
    return formatter.format(record)


def test_a_line_is_one_json_object_with_the_context_in_force():
    with logs.bound(request_id="req-1", agent_id="gcu"):
        line = emit(logs.JsonFormatter(), "task %s done", "task-1", task_id="task-1")
    entry = json.loads(line)
    assert entry["event"] == "task task-1 done" and entry["level"] == "info"
    assert (entry["request_id"], entry["agent_id"], entry["task_id"]) == ("req-1", "gcu", "task-1")
    assert "socket_id" not in entry


def test_the_context_ends_with_its_block():
    with logs.bound(request_id="req-2"):
        pass
    assert "request_id" not in json.loads(emit(logs.JsonFormatter(), "later"))


@pytest.mark.parametrize(
    "message",
    [
        f"identify with {TOKEN}",
        "header Authorization: Bearer op-secret-123",
        "query ?token=hunter2hunter2&x=1",
        "frame {'join_key': 'letmein-please'}",
        '{"token": "abc-def-ghi"}',
    ],
)
def test_secrets_are_masked(message):
    line = emit(logs.JsonFormatter(), message)
    for secret in (TOKEN, "op-secret-123", "hunter2hunter2", "letmein-please", "abc-def-ghi"):
        assert secret not in line
    assert logs.REDACTED in line


def every_pattern(text: str) -> str:
    for pattern, replacement in logs._PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# Pieces the patterns look for, in any case, between arbitrary text.
_pieces = st.sampled_from(
    ["bearer ", "Token=", "JOIN_KEY: ", "'secret': '", "password=", TOKEN, "ab12", " ", "&"]
)


@given(st.lists(st.one_of(_pieces, st.text(max_size=20)), max_size=8).map("".join))
def test_a_line_skipped_as_harmless_is_one_the_patterns_leave_alone(text):
    assert logs.redact(text, []) == every_pattern(text)


def test_a_context_value_from_the_client_is_masked_too():
    with logs.bound(task_id=f"task-{TOKEN}"):
        line = emit(logs.JsonFormatter(), "progress")
    assert TOKEN not in line and json.loads(line)["task_id"] == f"task-{logs.REDACTED}"


def test_the_configured_join_key_is_masked_wherever_it_appears(settings):
    settings.AGENTCOM_JOIN_KEY = "plain words key"
    assert "plain words key" not in emit(logs.JsonFormatter(), "got plain words key here")


def test_a_traceback_is_masked_too():
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError:
        import sys

        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    logs.RedactionFilter().filter(record)
    entry = json.loads(logs.JsonFormatter().format(record))
    assert "ValueError" in entry["exc"] and TOKEN not in entry["exc"]


def test_the_console_form_is_one_readable_line_with_the_context():
    with logs.bound(socket_id="s1"):
        line = emit(logs.ConsoleFormatter(), "hello")
    assert "INFO" in line and "agentcom.test: hello" in line and "[socket_id=s1]" in line
    assert not line.startswith("{")


def test_a_forced_style_wins_over_the_terminal_check():
    assert isinstance(logs.hub_formatter("json"), logs.JsonFormatter)
    assert isinstance(logs.hub_formatter("console"), logs.ConsoleFormatter)


def test_labels_are_bounded():
    label = BoundedLabel(2, known=("a",))
    assert [label("a"), label("b"), label("c"), label("b")] == ["a", "b", OTHER, "b"]
    assert label("x" * 500) == OTHER and label(None) == OTHER and label("bad\nvalue") == OTHER
