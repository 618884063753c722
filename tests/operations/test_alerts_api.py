"""An alert's life through the evaluation and the API: fired, acknowledged, resolved;
the cooldown; one evaluation per interval; thresholds changed at run time."""

from datetime import timedelta

import pytest

from agentcom_site.core.clock import now
from agentcom_site.operations import alerts
from agentcom_site.operations.models import Alert, AlertSettings, Webhook, WebhookDelivery
from tasks import queue

pytestmark = pytest.mark.django_db


def unplaceable(submit):
    return submit(needed_capabilities=["quantum"])


def test_a_task_nobody_can_take_fires_then_is_acknowledged_then_resolves(submit, make_agent, ops):
    make_agent("a1", capabilities=["python"])
    task = unplaceable(submit)
    Webhook.objects.create(url="http://127.0.0.1:9/hook")

    assert alerts.run_round()["fired"] == 1
    status, page = ops.get("/api/alerts", state="open")
    assert status == 200 and page["total"] == 1
    alert = page["alerts"][0]
    assert (alert["rule"], alert["state"]) == ("unplaceable_tasks", "firing")

    status, acked = ops.post(f"/api/alerts/{alert['id']}/ack")
    assert status == 200
    assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == "operator:ops"
    assert alerts.run_round()["fired"] == 0  # still there, still acknowledged

    queue.cancel_task(task.id, actor="operator:ops", reason="no such agent")
    assert alerts.run_round()["resolved"] == 1
    status, done = ops.get(f"/api/alerts/{alert['id']}")
    assert done["state"] == "resolved"
    assert [e["kind"] for e in done["history"]] == ["fired", "acknowledged", "resolved"]
    assert done["history"][1]["actor"] == "operator:ops"
    events = list(WebhookDelivery.objects.order_by("id").values_list("event", flat=True))
    assert events == ["alert.fired", "alert.acknowledged", "alert.resolved"]

    status, refused = ops.post(f"/api/alerts/{alert['id']}/ack")
    assert (status, refused["error"]) == (409, "alert_resolved")


def test_the_same_problem_within_the_cooldown_does_not_fire_again(submit, ops):
    task = unplaceable(submit)
    alerts.run_round()
    queue.cancel_task(task.id, actor="operator:ops", reason="x")
    alerts.run_round()
    unplaceable(submit)
    assert alerts.run_round()["cooling"] == 1
    assert Alert.objects.count() == 1

    ops.put("/api/alerts/settings", {"cooldown_s": 0})
    assert alerts.run_round()["fired"] == 1
    assert Alert.objects.count() == 2


def test_one_evaluation_per_interval_whichever_process_sweeps(submit):
    unplaceable(submit)
    moment = now()
    assert alerts.claim_round(moment)
    assert not alerts.claim_round(moment + timedelta(seconds=1))  # another worker's sweep
    later = moment + timedelta(seconds=alerts.settings.AGENTCOM_SWEEP_INTERVAL_S)
    assert alerts.claim_round(later)


def test_thresholds_change_at_run_time_and_null_restores_the_default(ops, settings):
    status, body = ops.put("/api/alerts/settings", {"agent_offline_s": 30, "failure_rate": 0.9})
    assert status == 200
    assert body["effective"]["agent_offline_s"] == 30
    assert body["overrides"]["failure_rate"] == 0.9
    assert body["updated_by"] == "operator:ops"
    status, body = ops.put("/api/alerts/settings", {"agent_offline_s": None})
    assert body["effective"]["agent_offline_s"] == settings.AGENTCOM_ALERT_AGENT_OFFLINE_S
    assert body["overrides"]["failure_rate"] == 0.9


@pytest.mark.parametrize(
    "body", [{"failure_rate": 2}, {"queue_growth": 0}, {"failure_min": 10**12}, {"cooldown_s": "x"}]
)
def test_bad_thresholds_are_refused_and_change_nothing(ops, body):
    status, answer = ops.put("/api/alerts/settings", body)
    assert (status, answer["error"]) == (422, "validation_failed")
    row = AlertSettings.objects.filter(pk=1).first()
    assert row is None or all(getattr(row, k) is None for k in body)


def test_alerts_and_webhooks_are_for_operators(api_for):
    agent = api_for("a1")
    assert agent.get("/api/alerts")[0] == 403
    assert agent.post("/api/alerts/1/ack")[0] == 403
    assert agent.post("/api/webhooks", {"url": "http://127.0.0.1/x"})[0] == 403


def test_the_alert_list_is_a_bounded_page(ops):
    status, body = ops.get("/api/alerts", limit=1000)
    assert (status, body["error"]) == (422, "validation_failed")
    status, body = ops.get("/api/alerts", state="burning")
    assert (status, body["error"]) == (422, "validation_failed")


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "ftp://example.com/x", "http://", "http://a b/", "x" * 3000]
)
def test_a_webhook_url_must_be_http_or_https(ops, url):
    status, body = ops.post("/api/webhooks", {"url": url})
    assert (status, body["error"]) == (422, "validation_failed")
    assert Webhook.objects.count() == 0


def test_webhooks_are_created_listed_and_deleted(ops):
    body = {"url": "https://hooks.example.com/x", "format": "slack"}
    status, made = ops.post("/api/webhooks", body)
    assert status == 201 and len(made["secret"]) >= 32
    status, listed = ops.get("/api/webhooks")
    assert listed["webhooks"][0]["secret_prefix"] == made["secret"][:6]
    assert "secret" not in listed["webhooks"][0]
    assert ops.send("DELETE", f"/api/webhooks/{made['id']}") == (
        200,
        {"status": "deleted", "id": made["id"]},
    )
    status, gone = ops.send("DELETE", f"/api/webhooks/{made['id']}")
    assert (status, gone["error"]) == (404, "webhook_not_found")


def test_resolved_alerts_and_finished_deliveries_are_forgotten_after_the_keep(submit, settings):
    settings.AGENTCOM_ALERT_KEEP_DAYS = 30
    Webhook.objects.create(url="http://127.0.0.1:9/hook")
    task = unplaceable(submit)
    alerts.run_round()
    queue.cancel_task(task.id, actor="operator:ops", reason="x")
    alerts.run_round()
    WebhookDelivery.objects.update(state="delivered", finished_at=now())
    assert alerts.forget_old(now() + timedelta(days=29)) == 0
    alerts.forget_old(now() + timedelta(days=31))
    assert (Alert.objects.count(), WebhookDelivery.objects.count()) == (0, 0)


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/alerts/{big}"),
        ("POST", "/api/alerts/{big}/ack"),
        ("DELETE", "/api/webhooks/{big}"),
        ("GET", "/api/webhooks/deliveries?webhook_id={big}"),
        ("GET", "/api/alerts/0"),
    ],
)
def test_ids_out_of_range_are_refused_not_looked_up(ops, method, path):
    status, body = ops.send(method, path.format(big="9" * 30))
    assert (status, body["error"]) == (422, "validation_failed")
