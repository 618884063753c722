"""An alert's whole life on a real hub: the sweep fires it, an operator acknowledges it,
the sweep resolves it; a real receiver gets each step, signed."""

import json
import os

import pytest

from tests.operations.receiver import Receiver

pytestmark = pytest.mark.e2e
FAST_SWEEP = {"AGENTCOM_SWEEP_INTERVAL_S": "0.2"}


def show(label: str, answer) -> None:
    """The answers, for a reader of the run (`pytest -s`)."""
    if os.getenv("AGENTCOM_SHOW_ANSWERS"):
        print(f"\n--- {label}\n{json.dumps(answer, indent=1)}")


def test_an_alert_fires_is_acknowledged_and_resolves(backend, start_hub):
    operator = backend.operator_token()
    backend.create_agent("worker", ["python"])
    hub = start_hub(FAST_SWEEP)
    with Receiver() as receiver:
        status, hook = hub.http("POST", "/api/webhooks", {"url": receiver.url}, token=operator)
        assert status == 201
        receiver.secret = hook["secret"]

        body = {"description": "simulate a molecule", "needed_capabilities": ["quantum"]}
        status, task = hub.http("POST", "/api/tasks", body, token=operator)
        assert status == 201
        [fired] = receiver.wait_for(1)
        assert fired["body"]["event"] == "alert.fired"
        alert_id = fired["body"]["alert"]["id"]
        status, page = hub.http("GET", "/api/alerts?state=open", token=operator)
        show("GET /api/alerts?state=open", page)
        assert [a["rule"] for a in page["alerts"]] == ["unplaceable_tasks"]
        assert page["alerts"][0]["state"] == "firing"

        status, acked = hub.http("POST", f"/api/alerts/{alert_id}/ack", token=operator)
        show(f"POST /api/alerts/{alert_id}/ack", acked)
        assert (status, acked["state"], acked["acknowledged_by"]) == (
            200,
            "acknowledged",
            "operator:ops",
        )
        receiver.wait_for(2)

        cancel = {"reason": "no quantum agent"}
        status, _ = hub.http("POST", f"/api/tasks/{task['task_id']}/cancel", cancel, token=operator)
        assert status == 200
        got = receiver.wait_for(3)
        status, done = hub.http("GET", f"/api/alerts/{alert_id}", token=operator)
        show(f"GET /api/alerts/{alert_id}", done)
        status, deliveries = hub.http("GET", "/api/webhooks/deliveries", token=operator)
        show("GET /api/webhooks/deliveries", deliveries)

    assert [g["body"]["event"] for g in got] == [
        "alert.fired",
        "alert.acknowledged",
        "alert.resolved",
    ]
    assert receiver.refused == []
    assert done["state"] == "resolved"
    assert [(e["kind"], e["actor"]) for e in done["history"]] == [
        ("fired", "sweep"),
        ("acknowledged", "operator:ops"),
        ("resolved", "sweep"),
    ]
    # The receiver answers before the hub records its answer: the last may still be sending.
    assert {d["state"] for d in deliveries["deliveries"]} <= {"delivered", "sending"}
    assert [d["attempts"] for d in deliveries["deliveries"]] == [1, 1, 1]
