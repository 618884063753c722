"""Webhook delivery against a real HTTP receiver on a loopback port that checks the
HMAC signature: retries with backoff, both formats, outcomes stored."""

from datetime import timedelta

import pytest

from agentcom_site.operations import alerts, webhooks
from agentcom_site.operations.models import DeliveryState, WebhookDelivery
from tests.operations.receiver import Receiver

pytestmark = pytest.mark.django_db


def fire_one(submit) -> None:
    submit(needed_capabilities=["quantum"])
    assert alerts.run_round()["fired"] == 1


def listen(ops, receiver: Receiver, body: dict) -> None:
    """Configure a webhook for the receiver and give the receiver its secret."""
    status, hook = ops.post("/api/webhooks", body)
    assert status == 201
    receiver.secret = hook["secret"]


def make_due() -> None:
    """The test's clock: the backoff has passed for every pending delivery."""
    WebhookDelivery.objects.filter(state=DeliveryState.PENDING).update(
        next_attempt_at=webhooks.now() - timedelta(seconds=1)
    )


def test_a_receiver_that_fails_twice_gets_the_alert_on_the_third_attempt(submit, ops, settings):
    settings.AGENTCOM_WEBHOOK_BACKOFF_S = 10
    with Receiver(failures=2) as receiver:
        listen(ops, receiver, {"url": receiver.url})
        fire_one(submit)

        assert webhooks.deliver_due() == 1
        first = WebhookDelivery.objects.get()
        assert (first.state, first.attempts, first.last_status) == ("pending", 1, 500)
        assert webhooks.deliver_due() == 0  # waiting out its backoff
        make_due()
        webhooks.deliver_due()
        second = WebhookDelivery.objects.get()
        assert (second.attempts, second.last_status) == (2, 500)
        make_due()
        webhooks.deliver_due()

    delivered = WebhookDelivery.objects.get()
    assert (delivered.state, delivered.attempts, delivered.last_status) == ("delivered", 3, 200)
    assert receiver.refused == []
    [got] = receiver.accepted
    assert got["body"]["event"] == "alert.fired"
    assert got["body"]["alert"]["rule"] == "unplaceable_tasks"
    assert got["headers"]["x-agentcom-delivery"] == str(delivered.pk)

    _, listed = ops.get("/api/webhooks/deliveries")
    assert listed["deliveries"][0]["state"] == "delivered"
    assert listed["deliveries"][0]["attempts"] == 3


def test_the_backoff_doubles_after_each_failure(submit, ops, settings):
    settings.AGENTCOM_WEBHOOK_BACKOFF_S = 10
    with Receiver(failures=5) as receiver:
        listen(ops, receiver, {"url": receiver.url})
        fire_one(submit)
        waits = []
        for _ in range(2):
            before = webhooks.now()
            webhooks.deliver_due()
            row = WebhookDelivery.objects.get()
            waits.append((row.next_attempt_at - before).total_seconds())
            make_due()
    assert 10 <= waits[0] < 12 and 20 <= waits[1] < 22


def test_a_delivery_gives_up_after_the_last_attempt(submit, ops, settings):
    settings.AGENTCOM_WEBHOOK_MAX_ATTEMPTS = 2
    with Receiver(failures=10) as receiver:
        listen(ops, receiver, {"url": receiver.url})
        fire_one(submit)
        webhooks.deliver_due()
        make_due()
        webhooks.deliver_due()
        make_due()
        assert webhooks.deliver_due() == 0
    row = WebhookDelivery.objects.get()
    assert (row.state, row.attempts, row.last_error) == ("failed", 2, "HTTP 500")
    assert receiver.seen == 2


def test_a_wrong_secret_is_refused_by_the_receiver(submit, ops):
    with Receiver(secret="not-the-one") as receiver:
        ops.post("/api/webhooks", {"url": receiver.url})
        fire_one(submit)
        webhooks.deliver_due()
    assert receiver.refused == ["bad signature"]
    assert WebhookDelivery.objects.get().last_status == 401


def test_the_slack_format_is_a_text_payload(submit, ops):
    with Receiver() as receiver:
        listen(ops, receiver, {"url": receiver.url, "format": "slack"})
        fire_one(submit)
        webhooks.deliver_due()
    [got] = receiver.accepted
    assert list(got["body"]) == ["text"]
    assert got["body"]["text"].startswith("[FIRED] 1 queued task(s) need quantum")


def test_private_addresses_can_be_refused(submit, ops, settings):
    settings.AGENTCOM_WEBHOOK_BLOCK_PRIVATE = True
    with Receiver() as receiver:
        listen(ops, receiver, {"url": receiver.url})
        fire_one(submit)
        webhooks.deliver_due()
    row = WebhookDelivery.objects.get()
    assert row.state == "failed" and "non-public address 127.0.0.1" in row.last_error
    assert receiver.seen == 0


def test_the_worker_thread_delivers_without_the_caller_waiting(transactional_db, submit, ops):
    with Receiver() as receiver:
        listen(ops, receiver, {"url": receiver.url})
        try:
            fire_one(submit)  # commits: the delivery row wakes the worker after commit
            assert len(receiver.wait_for(1)) == 1
        finally:
            webhooks.stop()
    assert WebhookDelivery.objects.get().state == "delivered"
