"""Dispatch and drain routes: what operators send, what bad input gets, what changes."""

import pytest

from agents.models import Agent
from tasks.models import DispatchPause, FlowChange, WipCap

pytestmark = pytest.mark.django_db


def test_pause_twice_changes_once_and_health_shows_it(ops, client):
    status, first = ops.post("/api/dispatch/pause", {"capability": "gpu", "reason": "fans"})
    assert (status, first["changed"], first["paused_capabilities"]) == (200, True, ["gpu"])
    status, again = ops.post("/api/dispatch/pause", {"capability": "gpu"})
    assert (status, again["changed"]) == (200, False)
    assert client.get("/health").json()["dispatch"] == {
        "paused": False,
        "paused_capabilities": ["gpu"],
    }
    status, whole = ops.post("/api/dispatch/pause")  # no body: everything
    assert (status, whole["paused"]) == (200, True)
    assert FlowChange.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scope": "capability", "key": "gpu", "limit": 0}, "limit"),
        ({"scope": "capability", "key": "gpu", "limit": 100_001}, "limit"),
        ({"scope": "queue", "key": "gpu", "limit": 1}, "scope"),
        ({"scope": "capability", "key": "", "limit": 1}, "key"),
        ({"scope": "capability", "key": "g" * 129, "limit": 1}, None),
        ({"scope": "submitter", "key": "s" * 257, "limit": 1}, "key"),
        ({"scope": "capability", "key": "gpu", "limit": "2"}, "limit"),
        ({"scope": "capability", "key": "gpu"}, "limit"),
    ],
)
def test_bad_caps_are_refused_and_change_nothing(ops, body, field):
    status, answer = ops.put("/api/dispatch/caps", body)
    assert (status, answer["error"]) == (422, "validation_failed")
    if field is not None:
        assert answer["errors"][0]["field"] == field
    assert not WipCap.objects.exists() and not FlowChange.objects.exists()


def test_bad_pauses_are_refused(ops):
    status, answer = ops.post("/api/dispatch/pause", {"capability": "c" * 129})
    assert (status, answer["errors"][0]["field"]) == (422, "capability")
    status, answer = ops.post("/api/dispatch/resume", {"reason": "r" * 2001})
    assert (status, answer["errors"][0]["field"]) == (422, "reason")
    assert not DispatchPause.objects.exists() and not FlowChange.objects.exists()


def test_drain_names_a_real_agent(ops, make_agent):
    make_agent("worker")
    status, answer = ops.post("/api/agents/nobody/drain")
    assert (status, answer["error"]) == (404, "agent_not_found")
    status, answer = ops.post("/api/agents/bad:id/drain")
    assert (status, answer["error"]) == (422, "validation_failed")
    status, answer = ops.post("/api/agents/worker/drain")
    assert (status, answer["draining"], answer["fsm_state"]) == (200, True, "offline")
    assert Agent.objects.get(agent_id="worker").draining is True
