"""Operator routes for alerts and webhooks (docs/OPERATIONS.md): thin views over
`operations.alerts` and the webhook rows. Every route is operator-only."""

from typing import Annotated, Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field, field_validator

from agentcom_site.core.auth import Principal, operator_auth
from agentcom_site.core.clock import to_ms
from agentcom_site.core.errors import conflict, invalid, not_found
from agentcom_site.core.limits import COUNTER_MAX
from agentcom_site.core.links import MAX_URL_CHARS, is_web_url
from agentcom_site.core.schemas import BODY_GUARD, Out, refusals
from agentcom_site.core.validation import Strict
from agentcom_site.operations import alerts
from agentcom_site.operations.models import (
    OPEN,
    THRESHOLD_DEFAULTS,
    Alert,
    AlertSettings,
    AlertState,
    Webhook,
    WebhookDelivery,
    WebhookFormat,
)
from agentcom_site.operations.webhooks import alert_record

router = Router(tags=["operations"], auth=operator_auth)
RowId = Annotated[int, Field(ge=1, le=COUNTER_MAX)]
HISTORY_MAX = 200  # events shown with one alert (the newest)
WEBHOOKS_MAX = 50  # webhooks an operator may configure
COUNT_THRESHOLD_MAX = 1_000_000  # fits the integer columns of every database


class PageQuery(Schema):
    limit: int = Field(settings.AGENTCOM_LIST_MAX, ge=1, le=settings.AGENTCOM_LIST_MAX)
    offset: int = Field(0, ge=0, le=COUNTER_MAX)


class DeliveryQuery(PageQuery):
    webhook_id: RowId | None = None


class AlertQuery(PageQuery):
    state: str | None = Field(None, description="firing, acknowledged, resolved or open")


class AlertEventOut(Out):
    kind: str
    actor: str
    detail: str
    at: int


class AlertOut(Out):
    id: int
    rule: str
    key: str
    state: str
    title: str
    detail: str
    facts: dict[str, Any]
    fired_at: int
    last_seen_at: int
    acknowledged_at: int | None
    acknowledged_by: str
    resolved_at: int | None


class AlertDetailOut(AlertOut):
    history: list[AlertEventOut]


class AlertListOut(Out):
    alerts: list[AlertOut]
    count: int
    total: int


def _detail(alert: Alert) -> dict[str, Any]:
    events = alert.events.order_by("-id")[:HISTORY_MAX]
    history = [
        {"kind": e.kind, "actor": e.actor, "detail": e.detail, "at": to_ms(e.created_at)}
        for e in reversed(events)
    ]
    return {**alert_record(alert), "history": history}


@router.get("/alerts", response={200: AlertListOut, **refusals(401, 403, 422)})
def list_alerts(request: HttpRequest, query: Query[AlertQuery]):
    """Newest first; `state=open` is firing and acknowledged together."""
    alerts_qs = Alert.objects.all()
    if query.state == "open":
        alerts_qs = alerts_qs.filter(state__in=OPEN)
    elif query.state is not None:
        if query.state not in AlertState.values:
            raise invalid(
                "state", "invalid_value", "state must be firing, acknowledged, resolved or open"
            )
        alerts_qs = alerts_qs.filter(state=query.state)
    page = [alert_record(a) for a in alerts_qs[query.offset : query.offset + query.limit]]
    return {"alerts": page, "count": len(page), "total": alerts_qs.count()}


class ThresholdsIn(Strict):
    """Thresholds to change; a field set to null returns to the setting's default."""

    agent_offline_s: float | None = Field(None, gt=0, le=30 * 86400)
    queue_growth: int | None = Field(None, ge=1, le=COUNT_THRESHOLD_MAX)
    queue_window_s: float | None = Field(None, gt=0, le=7 * 86400)
    failure_rate: float | None = Field(None, gt=0, le=1)
    failure_min: int | None = Field(None, ge=1, le=COUNT_THRESHOLD_MAX)
    failure_window_s: float | None = Field(None, gt=0, le=7 * 86400)
    stuck_after_s: float | None = Field(None, gt=0, le=30 * 86400)
    dead_letter_window_s: float | None = Field(None, gt=0, le=30 * 86400)
    cooldown_s: float | None = Field(None, ge=0, le=30 * 86400)
    question_after_s: float | None = Field(None, gt=0, le=30 * 86400)


class ThresholdsOut(Out):
    effective: dict[str, int | float]
    overrides: dict[str, int | float | None]
    updated_by: str
    updated_at: int


def _thresholds(row: AlertSettings) -> dict[str, Any]:
    return {
        "effective": {name: row.effective(name) for name in THRESHOLD_DEFAULTS},
        "overrides": {name: getattr(row, name) for name in THRESHOLD_DEFAULTS},
        "updated_by": row.updated_by,
        "updated_at": to_ms(row.updated_at),
    }


@router.get("/alerts/settings", response={200: ThresholdsOut, **refusals(401, 403)})
def get_thresholds(request: HttpRequest):
    return _thresholds(alerts.settings_row())


@router.put(
    "/alerts/settings", response={200: ThresholdsOut, **refusals(*BODY_GUARD, 401, 403, 422)}
)
def put_thresholds(request: HttpRequest, body: ThresholdsIn):
    """Only the fields present in the body change."""
    principal: Principal = request.auth
    changes = body.model_dump(exclude_unset=True)
    return _thresholds(alerts.update_thresholds(changes, actor=principal.actor))


@router.get(
    "/alerts/{int:alert_id}", response={200: AlertDetailOut, **refusals(401, 403, 404, 422)}
)
def get_alert(request: HttpRequest, alert_id: RowId):
    alert = Alert.objects.filter(pk=alert_id).first()
    if alert is None:
        raise not_found("alert_not_found", f"no alert {alert_id}", alert_id=alert_id)
    return _detail(alert)


@router.post(
    "/alerts/{int:alert_id}/ack",
    response={200: AlertDetailOut, **refusals(*BODY_GUARD, 401, 403, 404, 409, 422)},
)
def ack_alert(request: HttpRequest, alert_id: RowId):
    """Acknowledge: recorded with who did it; a resolved alert answers 409."""
    principal: Principal = request.auth
    return _detail(alerts.acknowledge(alert_id, actor=principal.actor))


# --- webhooks ----------------------------------------------------------------------------


class WebhookIn(Strict):
    url: str = Field(max_length=MAX_URL_CHARS)
    format: str = WebhookFormat.JSON
    description: str = Field("", max_length=200)

    @field_validator("url")
    @classmethod
    def _web_url(cls, value: str) -> str:
        if not is_web_url(value):
            raise ValueError("url must be an absolute http:// or https:// URL with a host")
        return value

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value not in WebhookFormat.values:
            raise ValueError("format must be json or slack")
        return value


class WebhookOut(Out):
    id: int
    url: str
    format: str
    description: str
    enabled: bool
    secret_prefix: str
    created_at: int
    created_by: str


class WebhookCreatedOut(WebhookOut):
    secret: str  # shown once


class WebhookListOut(Out):
    webhooks: list[WebhookOut]
    count: int


class DeliveryOut(Out):
    id: int
    webhook_id: int
    alert_id: int | None
    event: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str
    next_attempt_at: int
    created_at: int
    finished_at: int | None


class DeliveryListOut(Out):
    deliveries: list[DeliveryOut]
    count: int
    total: int


def _webhook(hook: Webhook) -> dict[str, Any]:
    return {
        "id": hook.pk,
        "url": hook.url,
        "format": hook.format,
        "description": hook.description,
        "enabled": hook.enabled,
        "secret_prefix": hook.secret[:6],
        "created_at": to_ms(hook.created_at),
        "created_by": hook.created_by,
    }


def _delivery(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": d.pk,
        "webhook_id": d.webhook_id,
        "alert_id": d.alert_id,
        "event": d.event,
        "state": d.state,
        "attempts": d.attempts,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "next_attempt_at": to_ms(d.next_attempt_at),
        "created_at": to_ms(d.created_at),
        "finished_at": to_ms(d.finished_at),
    }


@router.get("/webhooks", response={200: WebhookListOut, **refusals(401, 403)})
def list_webhooks(request: HttpRequest):
    hooks = [_webhook(h) for h in Webhook.objects.all()[:WEBHOOKS_MAX]]
    return {"webhooks": hooks, "count": len(hooks)}


@router.post(
    "/webhooks", response={201: WebhookCreatedOut, **refusals(*BODY_GUARD, 401, 403, 409, 422)}
)
def create_webhook(request: HttpRequest, body: WebhookIn):
    """The answer carries the signing secret, once; store it with the receiver."""
    principal: Principal = request.auth
    with transaction.atomic():
        if Webhook.objects.count() >= WEBHOOKS_MAX:
            raise conflict(
                "too_many_webhooks", f"at most {WEBHOOKS_MAX} webhooks", limit=WEBHOOKS_MAX
            )
        hook = Webhook.objects.create(
            url=body.url,
            format=body.format,
            description=body.description,
            created_by=principal.actor[:160],
        )
    return Status(201, {**_webhook(hook), "secret": hook.secret})


class WebhookDeletedOut(Out):
    status: str
    id: int


@router.delete(
    "/webhooks/{int:webhook_id}",
    response={200: WebhookDeletedOut, **refusals(*BODY_GUARD, 401, 403, 404, 422)},
)
def delete_webhook(request: HttpRequest, webhook_id: RowId):
    """The webhook and its delivery records go; nothing more is sent to it."""
    deleted, _ = Webhook.objects.filter(pk=webhook_id).delete()
    if not deleted:
        raise not_found("webhook_not_found", f"no webhook {webhook_id}", webhook_id=webhook_id)
    return {"status": "deleted", "id": webhook_id}


@router.get("/webhooks/deliveries", response={200: DeliveryListOut, **refusals(401, 403, 422)})
def list_deliveries(request: HttpRequest, query: Query[DeliveryQuery]):
    """Every delivery's outcome, newest first."""
    rows = WebhookDelivery.objects.all()
    if query.webhook_id is not None:
        rows = rows.filter(webhook_id=query.webhook_id)
    page = [_delivery(d) for d in rows[query.offset : query.offset + query.limit]]
    return {"deliveries": page, "count": len(page), "total": rows.count()}
