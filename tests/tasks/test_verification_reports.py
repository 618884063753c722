"""Verification reports and risk tiers from the holder (PROTOCOL.md §3.2, §3.8): stored
with the task through the queue's operations, shown by GET /api/tasks/<id>, and every
hostile shape of them refused by the gate without changing anything."""

import json

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from agentcom_site.core.errors import ValidationFailed
from agentcom_site.core.validation import validate
from agents import services, tokens
from tasks import queue
from tasks.frames import ClassifyFrame, CompleteFrame, FailedFrame
from tasks.models import Task, TaskEvent, VerificationReport
from tests.conftest import assign
from tests.site.gate_strategies import diff_shapes, json_values, verification_reports
from tests.sockets import agent_socket, db

STEP = {
    "index": 0,
    "kind": "tests_pass",
    "label": "pytest -q",
    "passed": False,
    "exit_code": 1,
    "duration_ms": 812,
    "output": "FAILED tests/test_cart.py::test_total - assert 3 == 4",
    "truncated": False,
}
FAILED_ATTEMPT = {"attempt": 1, "passed": False, "steps": [STEP], "finished_at": 1_767_225_600_000}
PASSED_ATTEMPT = {
    "attempt": 2,
    "passed": True,
    "steps": [{**STEP, "passed": True, "exit_code": 0, "output": "1 passed"}],
}
DIFF = {
    "files_changed": 2,
    "lines_added": 12,
    "lines_removed": 3,
    "paths": ["tests/test_cart.py", "docs/cart.md"],
    "dependency_files": [],
    "tests_touched": ["tests/test_cart.py"],
    "migrations_touched": [],
}


@db
def held_task(agent_id: str) -> tuple[str, int, str]:
    agent, _ = services.ensure_agent(agent_id, capabilities=[])
    token = tokens.issue_agent_token(agent)[1]
    task, _ = queue.submit_task(description="Fix the cart total", submitted_by="t")
    return task.id, agent.pk, token


@db
def take(task_id: str, agent_pk: int) -> int:
    from agents.models import Agent

    return assign(task_id, Agent.objects.get(pk=agent_pk)).generation


@db
def task_detail(task_id: str) -> dict:
    ops = tokens.issue_operator_token("ops")[1]
    response = Client(headers={"Authorization": f"Bearer {ops}"}).get(f"/api/tasks/{task_id}")
    assert response.status_code == 200
    return response.json()


@db
def events(task_id: str) -> list[tuple[str, str]]:
    return list(TaskEvent.objects.filter(task_id=task_id).values_list("event", "reason"))


async def holder_socket(agent_id: str = "worker"):
    task_id, agent_pk, token = await held_task(agent_id)
    sock = await agent_socket(agent_id, token)
    generation = await take(task_id, agent_pk)
    await sock.recv_type("task_assign")
    return sock, task_id, generation


@pytest.mark.django_db(transaction=True)
async def test_a_completion_stores_every_attempt_and_the_api_returns_them():
    sock, task_id, generation = await holder_socket()
    await sock.send(
        {"type": "task_classify", "task_id": task_id, "generation": generation, "diff": DIFF}
    )
    risk = await sock.recv_type("task_risk")
    complete = {
        "type": "task_complete",
        "task_id": task_id,
        "generation": generation,
        "result": {"status": "success"},
        "verification": [FAILED_ATTEMPT, PASSED_ATTEMPT],
    }
    ack = await sock.ask(complete)

    assert risk == {
        "type": "task_risk",
        "task_id": task_id,
        "generation": generation,
        "tier": 1,
        "reasons": ["small change (2 files, +12 -3), only tests and documents"],
    }
    assert ack["status"] == "complete"
    record = await task_detail(task_id)
    assert [(a["attempt"], a["passed"]) for a in record["verification"]] == [(1, False), (2, True)]
    assert record["verification"][0]["steps"] == [STEP]
    assert record["verification"][0]["finished_at"] == 1_767_225_600_000
    assert record["verification"][1]["generation"] == generation
    assert (record["risk_tier"], record["diff_shape"]["lines_added"]) == (1, 12)
    assert ("classified", "risk tier 1: " + risk["reasons"][0]) in await events(task_id)
    await sock.close()


@pytest.mark.django_db(transaction=True)
async def test_a_failure_keeps_its_reports_under_the_generation_that_failed():
    sock, task_id, generation = await holder_socket()
    failed = {
        "type": "task_failed",
        "task_id": task_id,
        "generation": generation,
        "reason": "verification_failed",
        "verification": [FAILED_ATTEMPT, {**FAILED_ATTEMPT, "attempt": 2}],
    }
    assert (await sock.ask(failed))["status"] == "retried"

    record = await task_detail(task_id)
    assert record["last_error"] == "verification_failed"
    assert [a["generation"] for a in record["verification"]] == [generation, generation]
    await sock.close()


@pytest.mark.django_db(transaction=True)
async def test_a_classify_that_is_not_the_holders_changes_nothing():
    sock, task_id, generation = await holder_socket()
    stale = await sock.ask(
        {"type": "task_classify", "task_id": task_id, "generation": generation + 1, "diff": DIFF}
    )
    bad = await sock.ask(
        {
            "type": "task_classify",
            "task_id": task_id,
            "generation": generation,
            "diff": {**DIFF, "paths": ["../x"]},
        }
    )
    ok = await sock.ask(
        {"type": "task_classify", "task_id": task_id, "generation": generation, "diff": DIFF}
    )

    assert stale["error"] == "task_classify_failed: stale_generation"
    assert stale["task_id"] == task_id
    assert bad["error"] == "validation_failed" and bad["message_type"] == "task_classify"
    assert ok["type"] == "task_risk"  # the socket still works
    await sock.close()


# --- the gate: whatever the holder sends, a refusal or a stored value within the rules ---


def within_rules(report: VerificationReport) -> bool:
    return (
        1 <= report.attempt <= 11
        and len(report.steps) <= 20
        and all(
            len(s["output"]) <= 4000 and len(s["label"]) <= 200 and 0 <= s["index"] < 20
            for s in report.steps
        )
    )


@pytest.mark.django_db
@given(
    verification=verification_reports | json_values,
    diff=diff_shapes | json_values,
    fail=st.booleans(),
)
def test_no_report_or_diff_outside_the_rules_is_stored(make_agent, verification, diff, fail):
    agent = make_agent("worker", online=True)
    task, _ = queue.submit_task(description="w", submitted_by="t")
    task = assign(task.id, agent)
    head = {"task_id": task.id, "generation": task.generation}
    try:
        classify = validate(ClassifyFrame, {**head, "diff": diff})
    except ValidationFailed:
        classify = None
    if classify is not None:
        classified = queue.classify_task(task.id, agent, task.generation, diff=classify.diff)
        assert classified.risk_tier in (1, 2, 3) and classified.risk_reasons
    schema = FailedFrame if fail else CompleteFrame
    try:
        frame = validate(
            schema, {**head, "reason": "verification_failed", "verification": verification}
        )
    except ValidationFailed:
        queue.cancel_task(task.id, actor="t", reason="refused")
        assert not VerificationReport.objects.filter(task=task).exists()
        return
    if fail:
        queue.fail_task(task.id, agent, task.generation, error="x", checks=frame.verification)
    else:
        queue.complete_task(task.id, agent, task.generation, result={}, checks=frame.verification)
    stored = list(VerificationReport.objects.filter(task=task))
    assert len(stored) == len(frame.verification or [])
    assert all(within_rules(r) for r in stored)
    json.dumps([r.steps for r in stored])
    assert Task.objects.get(pk=task.id).status in ("completed", "queued", "dead_letter")
