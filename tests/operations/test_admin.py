"""The admin pages of alerts, thresholds, webhooks and deliveries."""

import pytest

from agentcom_site.operations import alerts
from agentcom_site.operations.models import Alert, AlertSettings, Webhook

pytestmark = pytest.mark.django_db


def test_every_operations_page_renders(admin_client, submit):
    Webhook.objects.create(url="https://hooks.example.com/x")
    submit(needed_capabilities=["gpu"])
    alerts.run_round()
    alert = Alert.objects.get()
    for path in (
        "/admin/operations/alert/",
        f"/admin/operations/alert/{alert.pk}/change/",
        "/admin/operations/alertsettings/",
        "/admin/operations/webhook/",
        "/admin/operations/webhook/add/",
        "/admin/operations/webhookdelivery/",
    ):
        assert admin_client.get(path).status_code == 200, path


def test_the_acknowledge_action_records_who(admin_client, submit):
    submit(needed_capabilities=["gpu"])
    alerts.run_round()
    alert = Alert.objects.get()
    admin_client.post(
        "/admin/operations/alert/",
        {"action": "acknowledge", "_selected_action": [alert.pk]},
    )
    alert.refresh_from_db()
    assert alert.state == "acknowledged" and alert.acknowledged_by == "operator:admin"


def test_a_webhook_url_that_is_not_http_is_refused(admin_client):
    response = admin_client.post(
        "/admin/operations/webhook/add/",
        {"url": "javascript:alert(1)", "format": "json", "description": "", "enabled": "on"},
    )
    assert response.status_code == 200 and "http:// or https://" in response.content.decode()
    assert Webhook.objects.count() == 0


def test_thresholds_out_of_range_are_refused_in_the_admin(admin_client):
    AlertSettings.objects.create(pk=1)
    response = admin_client.post(
        "/admin/operations/alertsettings/1/change/", {"failure_rate": "3", "queue_growth": ""}
    )
    assert response.status_code == 200
    assert AlertSettings.objects.get().failure_rate is None
