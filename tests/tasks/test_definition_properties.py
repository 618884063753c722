"""Property search of the definition-of-done and cost fields: whatever is sent, nothing
outside the rules of PROTOCOL.md §1 is ever stored. The rules are restated here on
their own (not by calling the hub's checks), so a hole in those shows up as a failure."""

import json
import math
import re
from decimal import Decimal

import pytest
from django.test import Client
from hypothesis import example, given

from agentcom_site.core.errors import ValidationFailed
from agentcom_site.core.validation import validate
from tasks import queue
from tasks.frames import CompleteFrame
from tasks.models import Task
from tests.conftest import assign
from tests.site.gate_strategies import body, cost_fields, definition_fields, json_objects

pytestmark = pytest.mark.django_db

STEP_TYPES = {"command_succeeds", "tests_pass", "file_exists", "git_clean", "diff_within"}


def clean(value: str) -> bool:
    """No control character and no whitespace of any kind."""
    return not any(ord(c) < 33 or 127 <= ord(c) <= 159 or c.isspace() for c in value)


def repo_ok(value: str) -> bool:
    if value == "":
        return True
    if len(value) > 2000 or not clean(value) or value.startswith("-") or "::" in value:
        return False
    if value.startswith(("http://", "https://", "ssh://")):
        return ":" not in value.split("://", 1)[1].split("/", 1)[0].split("@")[0]  # no password
    if "@" in value and ":" in value:
        return True
    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?", value) and (
        ".." not in value
    )


def branch_ok(value: str) -> bool:
    if value == "":
        return True
    return (
        len(value) <= 200
        and clean(value)
        and not value.startswith("-")
        and ".." not in value
        and not set("~^:?*[\\") & set(value)
        and not value.endswith((".lock", "/", "."))
    )


def path_ok(value: str) -> bool:
    return (
        0 < len(value) <= 1024
        and clean(value.replace(" ", ""))
        and not value.startswith(("/", "-", "~"))
        and "\\" not in value
        and ".." not in value.split("/")
    )


def command_ok(value: str) -> bool:
    return (
        0 < len(value) <= 2000
        and value.strip() != ""
        and not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", value)
    )


def step_ok(step: dict) -> bool:
    kind = step["type"]
    if kind not in STEP_TYPES:
        return False
    if kind in ("command_succeeds", "tests_pass"):
        timeout = step.get("timeout_s", 1 if kind == "tests_pass" else None)
        return command_ok(step["command"]) and timeout is not None and 1 <= timeout <= 3600
    if kind == "file_exists":
        return path_ok(step["path"])
    if kind == "diff_within":
        return 1 <= len(step["paths"]) <= 50 and all(path_ok(p) for p in step["paths"])
    return set(step) == {"type"}


def stored_ok(task: Task) -> bool:
    return (
        repo_ok(task.repo)
        and branch_ok(task.branch)
        and len(task.file_hints) <= 50
        and all(path_ok(p) for p in task.file_hints)
        and len(task.success_criteria) <= 10_000
        and len(task.verification_steps) <= 20
        and all(step_ok(s) for s in task.verification_steps)
        and 0 <= task.max_verification_retries <= 10
        and task.complexity in ("trivial", "standard", "complex")
    )


@given(fields=body(**definition_fields))
def test_no_submitted_definition_outside_the_rules_is_stored(operator_token, fields):
    ops = Client(headers={"Authorization": f"Bearer {operator_token}"})
    before = Task.objects.count()
    response = ops.post(
        "/api/tasks", json.dumps({"description": "x", **fields}), content_type="application/json"
    )
    assert response.status_code in (201, 422), response.content
    if response.status_code == 422:
        assert response.json()["error"] == "validation_failed"
        assert Task.objects.count() == before
        return
    task = Task.objects.get(pk=response.json()["task_id"])
    assert stored_ok(task), fields


def figure_ok(value, top: int = 2**53) -> bool:
    return value is None or (type(value) is int and 0 <= value <= top)


@given(given_fields=body(**cost_fields), inside=body(**cost_fields), extra=json_objects)
@example(given_fields={}, inside={}, extra={"n": 5.265312511931274e16})  # found on Postgres
def test_no_cost_figure_outside_the_rules_is_stored(make_agent, given_fields, inside, extra):
    agent = make_agent("worker", online=True)
    task, _ = queue.submit_task(description="w", submitted_by="t")
    task = assign(task.id, agent)
    result = {**extra, **inside}
    raw = {"task_id": task.id, "generation": task.generation, "result": result, **given_fields}
    try:
        frame = validate(CompleteFrame, raw)
    except ValidationFailed:
        queue.cancel_task(task.id, actor="t", reason="refused")
        return
    queue.complete_task(task.id, agent, frame.generation, result=frame.result, cost=frame)
    task.refresh_from_db()
    for name in ("tokens_in", "tokens_out", "execution_ms", "iterations"):
        assert figure_ok(getattr(task, name)), (name, getattr(task, name))
    cost = task.cost_usd
    assert cost is None or (math.isfinite(float(cost)) and 0 <= cost <= 1_000_000)
    assert task.model == "" or re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}", task.model)
    assert task.session_id == "" or re.fullmatch(
        r"[A-Za-z0-9][A-Za-z0-9._:-]{0,255}", task.session_id
    )
    # As JSON numbers: Postgres's jsonb keeps the number, not its notation (5.3e+16 comes
    # back as the integer 53000000000000000), which JSON does not tell apart either.
    assert as_json_numbers(task.result) == as_json_numbers(result)


def as_json_numbers(value):
    return json.loads(json.dumps(value), parse_float=Decimal, parse_int=Decimal)
