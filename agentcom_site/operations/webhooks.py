"""Webhook delivery: alert events POSTed to the operators' receivers, signed, retried.

`enqueue` stores one delivery row per enabled webhook inside the caller's transaction
(the outbox), so a delivery is never lost and never sent for an alert change that
rolled back. A worker thread per process (`kick`) claims due rows with a conditional
update (a lease: a row a dead process was sending becomes due again) and POSTs them
from a small pool with a timeout, so neither the sweep nor the event loop ever waits
on a receiver. A failed attempt is retried after AGENTCOM_WEBHOOK_BACKOFF_S, doubling,
until AGENTCOM_WEBHOOK_MAX_ATTEMPTS; every outcome stays on the row.

Signature: `X-AgentCom-Signature: sha256=<hex>`, the HMAC-SHA256 with the webhook's
secret over `<timestamp>.<body>`, where `X-AgentCom-Timestamp` carries the timestamp
(Unix seconds); a receiver refuses stale timestamps to stop replays.
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Q

from agentcom_site.core.clock import now, to_ms
from agentcom_site.operations.models import (
    Alert,
    DeliveryState,
    Webhook,
    WebhookDelivery,
    WebhookFormat,
)

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-AgentCom-Signature"
TIMESTAMP_HEADER = "X-AgentCom-Timestamp"
EVENT_HEADER = "X-AgentCom-Event"
DELIVERY_HEADER = "X-AgentCom-Delivery"
RESPONSE_READ_MAX = 1024  # bytes of a receiver's answer read (and dropped)
IDLE_WAIT_S = 5.0  # the worker looks for due retries at least this often


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def alert_record(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "rule": alert.rule,
        "key": alert.key,
        "state": alert.state,
        "title": alert.title,
        "detail": alert.detail,
        "facts": alert.facts,
        "fired_at": to_ms(alert.fired_at),
        "last_seen_at": to_ms(alert.last_seen_at),
        "acknowledged_at": to_ms(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "resolved_at": to_ms(alert.resolved_at),
    }


def payload(fmt: str, alert: Alert, event: str) -> str:
    """The body for one webhook: the alert as JSON, or one line of text for Slack."""
    if fmt == WebhookFormat.SLACK:
        heading = event.removeprefix("alert.").upper()
        if event == "alert.acknowledged":
            heading += f" by {alert.acknowledged_by}"
        lines = [f"[{heading}] {alert.title}", alert.detail]
        return json.dumps({"text": "\n".join(line for line in lines if line)})
    return json.dumps({"event": event, "sent_by": "agentcom", "alert": alert_record(alert)})


def enqueue(alert: Alert, event: str) -> int:
    """One delivery per enabled webhook, in the caller's transaction; the worker is woken
    after commit. Returns how many were queued."""
    hooks = list(Webhook.objects.filter(enabled=True))
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(webhook=h, alert=alert, event=event, body=payload(h.format, alert, event))
        for h in hooks
    )
    if hooks:
        transaction.on_commit(kick)
    return len(hooks)


# --- one attempt -----------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A receiver's redirect is an answer, not an instruction: never follow it elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def blocked_address(url: str) -> str | None:
    """With AGENTCOM_WEBHOOK_BLOCK_PRIVATE: why the URL's host may not be reached."""
    if not settings.AGENTCOM_WEBHOOK_BLOCK_PRIVATE:
        return None
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return f"cannot resolve {host}"
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return f"{host} resolves to the non-public address {address}"
    return None


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """(HTTP status or None, error sentence or "") of one POST."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with _opener.open(request, timeout=settings.AGENTCOM_WEBHOOK_TIMEOUT_S) as response:
            response.read(RESPONSE_READ_MAX)
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return None, str(reason)[:300] or type(error).__name__


def attempt(delivery: WebhookDelivery) -> str:
    """POST a claimed delivery once and record the outcome; returns the new state."""
    hook = delivery.webhook
    body = delivery.body.encode()
    timestamp = str(int(time.time()))
    refusal = blocked_address(hook.url)
    if refusal is not None:
        status, error = None, refusal
    else:
        status, error = post(
            hook.url,
            body,
            {
                "Content-Type": "application/json",
                "User-Agent": "AgentCom-Webhook/1",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(hook.secret, timestamp, body),
                EVENT_HEADER: delivery.event,
                DELIVERY_HEADER: str(delivery.pk),
            },
        )
    moment = now()
    if status is not None and 200 <= status < 300:
        state, due = DeliveryState.DELIVERED, moment
    elif refusal is not None or delivery.attempts >= settings.AGENTCOM_WEBHOOK_MAX_ATTEMPTS:
        state, due = DeliveryState.FAILED, moment
    else:
        wait = settings.AGENTCOM_WEBHOOK_BACKOFF_S * 2 ** (delivery.attempts - 1)
        state, due = DeliveryState.PENDING, moment + timedelta(seconds=wait)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=state,
        last_status=status,
        last_error=error[:300],
        next_attempt_at=due,
        finished_at=moment if state != DeliveryState.PENDING else None,
    )
    if state == DeliveryState.FAILED:
        log.warning("webhook %s: delivery %s failed: %s", hook.pk, delivery.pk, error)
    return state


def claim_due(limit: int) -> list[WebhookDelivery]:
    """Due deliveries this process now holds for one attempt (a lease past the timeout)."""
    moment = now()
    lease = moment + timedelta(seconds=settings.AGENTCOM_WEBHOOK_TIMEOUT_S * 3 + 5)
    due = Q(state=DeliveryState.PENDING) | Q(state=DeliveryState.SENDING)
    candidates = list(
        WebhookDelivery.objects.filter(due, next_attempt_at__lte=moment)
        .order_by("next_attempt_at", "id")
        .values_list("pk", "attempts")[:limit]
    )
    claimed = []
    for pk, attempts in candidates:
        if WebhookDelivery.objects.filter(
            due, pk=pk, attempts=attempts, next_attempt_at__lte=moment
        ).update(state=DeliveryState.SENDING, attempts=attempts + 1, next_attempt_at=lease):
            claimed.append(pk)
    return list(WebhookDelivery.objects.filter(pk__in=claimed).select_related("webhook"))


def _attempt_in_thread(delivery: WebhookDelivery) -> str:
    try:
        return attempt(delivery)
    finally:
        connection.close()  # pool threads come and go; their connections must not linger


def deliver_due(pool: ThreadPoolExecutor | None = None) -> int:
    """Attempt every due delivery (at most a few rounds of the pool); returns how many."""
    limit = max(1, settings.AGENTCOM_WEBHOOK_CONCURRENCY) * 4
    batch = claim_due(limit)
    if pool is None:
        for delivery in batch:
            attempt(delivery)
    else:
        list(pool.map(_attempt_in_thread, batch))
    return len(batch)


# --- the worker ------------------------------------------------------------------------

_wake = threading.Event()
_stopping = threading.Event()
_started = threading.Lock()
_thread: threading.Thread | None = None


def _run() -> None:
    pool = ThreadPoolExecutor(
        max_workers=max(1, settings.AGENTCOM_WEBHOOK_CONCURRENCY), thread_name_prefix="webhook"
    )
    while not _stopping.is_set():
        _wake.wait(IDLE_WAIT_S)
        _wake.clear()
        if _stopping.is_set():
            break
        try:
            close_old_connections()
            while deliver_due(pool):
                pass
        except Exception:
            log.exception("webhook delivery round failed; trying again shortly")
        finally:
            connection.close()
    pool.shutdown(wait=True)


def stop(timeout: float = 10) -> None:
    """Let the worker finish its round and end (a clean process stop, or a test)."""
    global _thread
    with _started:
        thread, _thread = _thread, None
    if thread is not None:
        _stopping.set()
        _wake.set()
        thread.join(timeout)
        _stopping.clear()


def kick() -> None:
    """Wake this process's delivery worker, starting it on first use (a daemon thread)."""
    global _thread
    with _started:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="webhook-worker", daemon=True)
            _thread.start()
    _wake.set()
