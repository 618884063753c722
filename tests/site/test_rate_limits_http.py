"""Rate limits over HTTP: 429 with Retry-After, weights per action, operators' larger
budget, throttled wrong join keys, and the public URL in registration answers."""

import json
import logging

import pytest
from django.test import Client

from tasks.models import Task

KEY = "join-key-for-tests-0123456789"


@pytest.fixture(autouse=True)
def small_budgets(small_rate_budgets):
    small_rate_budgets.AGENTCOM_RATE_WEIGHTS["register"] = 4
    small_rate_budgets.AGENTCOM_JOIN_KEY = KEY


def test_past_the_budget_an_agent_gets_429_with_retry_after(api_for):
    alpha = api_for("alpha")
    for _ in range(10):
        assert alpha.get("/api/agents")[0] == 200
    response = alpha.client.get("/api/agents")
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "rate_limited" and body["retry_after_ms"] >= 99_000
    assert response["Retry-After"] == str(-(-body["retry_after_ms"] // 1000))
    assert api_for("beta").get("/api/agents")[0] == 200  # another principal, another bucket


def test_a_refused_submit_changes_nothing(api_for):
    alpha = api_for("alpha")
    for n in range(3):  # a read plus a submit: 3 tokens each
        assert alpha.post("/api/tasks", {"description": f"t{n}"})[0] == 201
    status, body = alpha.post("/api/tasks", {"description": "one too many"})
    assert (status, body["error"]) == (429, "rate_limited")
    assert Task.objects.count() == 3


def test_a_batch_pays_per_task(api_for):
    alpha = api_for("alpha")
    status, body = alpha.post("/api/tasks/batch", {"tasks": [{"description": "a"}] * 5})
    assert (status, body["error"]) == (429, "rate_limited")  # 1 + 5 * 2 > 10
    assert not Task.objects.exists()
    assert alpha.post("/api/tasks/batch", {"tasks": [{"description": "a"}] * 4})[0] == 201


def test_operators_are_not_limited_by_default(ops):
    assert all(ops.get("/api/agents")[0] == 200 for _ in range(50))


def test_operators_may_get_a_larger_budget_instead(ops, settings):
    settings.AGENTCOM_RATE_OPERATOR_FACTOR = 10
    assert all(ops.get("/api/agents")[0] == 200 for _ in range(100))
    assert ops.get("/api/agents")[0] == 429


def register(address: str, key: str | None, agent_id: str = "new-1"):
    client = Client(REMOTE_ADDR=address)
    body = {"agent_id": agent_id, **({"join_key": key} if key is not None else {})}
    return client.post("/api/onboard/register", json.dumps(body), content_type="application/json")


def test_wrong_join_keys_are_throttled_per_address_and_logged_without_the_key(db, caplog):
    caplog.set_level(logging.WARNING, logger="agentcom_site.registration")
    codes = [register("10.0.0.1", f"guess-{n}").json()["error"] for n in range(3)]
    assert codes == ["invalid_join_key"] * 3
    # Throttled: even the right key is not tried from this address for now.
    refused = register("10.0.0.1", KEY)
    assert refused.status_code == 429 and refused.json()["retry_after_ms"] >= 1000
    assert refused["Retry-After"]
    # Another address is not affected.
    assert register("10.0.0.2", KEY, agent_id="new-2").status_code == 201
    logged = [r.getMessage() for r in caplog.records]
    assert sum("invalid_join_key" in line and "10.0.0.1" in line for line in logged) == 3
    assert not any("guess-" in line or KEY in line for line in logged)


def test_registrations_pay_from_the_address_budget(db):
    assert [register("10.0.0.3", KEY, agent_id=f"n{i}").status_code for i in range(3)] == [
        201,
        201,
        429,  # 4 + 4 of 10, then 2 left
    ]


def test_hub_urls_come_from_the_public_url_not_the_host_header(db, settings):
    settings.AGENTCOM_PUBLIC_URL = "https://hub.example.com"
    client = Client(REMOTE_ADDR="10.0.0.4", HTTP_HOST="evil.example.net")
    settings.ALLOWED_HOSTS = ["*"]
    body = client.post(
        "/api/onboard/register",
        json.dumps({"agent_id": "n9", "join_key": KEY}),
        content_type="application/json",
    ).json()
    assert body["hub_ws_url"] == "wss://hub.example.com/ws"
    assert body["hub_api_url"] == "https://hub.example.com"


def test_without_a_public_url_the_request_names_the_hub(db):
    body = register("10.0.0.5", KEY).json()
    assert body["hub_ws_url"] == "ws://testserver/ws"
    assert body["hub_api_url"] == "http://testserver"
