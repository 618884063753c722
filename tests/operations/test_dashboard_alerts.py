"""The overview lists open alerts with an Acknowledge button that acknowledges."""

import pytest

from agentcom_site.operations import alerts
from agentcom_site.operations.models import Alert

pytestmark = pytest.mark.django_db


def test_the_overview_shows_an_open_alert_and_its_button_acknowledges_it(staff_client, submit):
    submit(description="y", needed_capabilities=["gpu"])
    alerts.run_round()
    alert = Alert.objects.get(key="gpu")

    page = staff_client.get("/dashboard").content.decode()
    assert 'id="alerts"' in page and "need gpu" in page
    assert f'action="/dashboard/alerts/{alert.pk}/ack"' in page

    response = staff_client.post(f"/dashboard/alerts/{alert.pk}/ack")
    assert response.status_code == 302
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledged_by) == ("acknowledged", "operator:ops")
    page = staff_client.get("/dashboard").content.decode()
    assert "by operator:ops" in page


def test_the_button_is_for_staff_only(client, submit):
    submit(needed_capabilities=["gpu"])
    alerts.run_round()
    alert = Alert.objects.get()
    response = client.post(f"/dashboard/alerts/{alert.pk}/ack")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    alert.refresh_from_db()
    assert alert.state == "firing"


def test_what_an_alert_says_is_escaped_on_the_page(staff_client, submit):
    submit(needed_capabilities=["<b>bold</b>"])  # past the gate, as an old row could be
    alerts.run_round()
    page = staff_client.get("/dashboard").content.decode()
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
