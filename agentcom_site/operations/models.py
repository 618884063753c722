"""Alerts, their thresholds, and the webhooks that carry them (docs/OPERATIONS.md).

An alert is one open problem, named by its rule and a key (an agent id, a capability):
`firing → acknowledged → resolved`, or `firing → resolved`. Its events are its history.
A delivery is one alert event on its way to one webhook: a row first, so nothing is
lost when the process stops, then POSTed by `operations.webhooks` outside the sweep.
"""

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from agentcom_site.core.clock import now


class AlertState(models.TextChoices):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


OPEN = (AlertState.FIRING, AlertState.ACKNOWLEDGED)

# Threshold field -> the setting that gives its default (docs/DESIGN.md §Settings).
THRESHOLD_DEFAULTS = {
    "agent_offline_s": "AGENTCOM_ALERT_AGENT_OFFLINE_S",
    "queue_growth": "AGENTCOM_ALERT_QUEUE_GROWTH",
    "queue_window_s": "AGENTCOM_ALERT_QUEUE_WINDOW_S",
    "failure_rate": "AGENTCOM_ALERT_FAILURE_RATE",
    "failure_min": "AGENTCOM_ALERT_FAILURE_MIN",
    "failure_window_s": "AGENTCOM_ALERT_FAILURE_WINDOW_S",
    "stuck_after_s": "AGENTCOM_ALERT_STUCK_AFTER_S",
    "dead_letter_window_s": "AGENTCOM_ALERT_DEAD_LETTER_WINDOW_S",
    "cooldown_s": "AGENTCOM_ALERT_COOLDOWN_S",
    "question_after_s": "AGENTCOM_ALERT_QUESTION_AFTER_S",
}


# What the admin form accepts; the API schema (operations/api.py) says the same.
SECONDS = [MinValueValidator(0), MaxValueValidator(30 * 86400)]
COUNT = [MinValueValidator(1), MaxValueValidator(1_000_000)]
SHARE = [MinValueValidator(0), MaxValueValidator(1)]


class AlertSettings(models.Model):
    """The one row of run-time thresholds (pk 1). An empty field means "the setting's
    default", so a deploy can still move a default nobody overrode.

    `evaluated_at` is also the evaluation's claim: the process that moves it conditionally
    evaluates this round, every other sweep in the same interval skips (scaled mode).
    """

    agent_offline_s = models.FloatField(null=True, blank=True, validators=SECONDS)
    queue_growth = models.PositiveIntegerField(null=True, blank=True, validators=COUNT)
    queue_window_s = models.FloatField(null=True, blank=True, validators=SECONDS)
    failure_rate = models.FloatField(null=True, blank=True, validators=SHARE)
    failure_min = models.PositiveIntegerField(null=True, blank=True, validators=COUNT)
    failure_window_s = models.FloatField(null=True, blank=True, validators=SECONDS)
    stuck_after_s = models.FloatField(null=True, blank=True, validators=SECONDS)
    dead_letter_window_s = models.FloatField(null=True, blank=True, validators=SECONDS)
    cooldown_s = models.FloatField(null=True, blank=True, validators=SECONDS)
    question_after_s = models.FloatField(null=True, blank=True, validators=SECONDS)

    evaluated_at = models.DateTimeField(null=True, blank=True)
    # [[ms, queued], ...] of recent evaluations, for "queue growing"; bounded in alerts.py.
    queue_samples = models.JSONField(default=list, blank=True)
    last_backup_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=now)
    updated_by = models.CharField(max_length=160, blank=True, default="")

    class Meta:
        verbose_name = "alert settings"
        verbose_name_plural = "alert settings"

    def __str__(self) -> str:
        return "alert thresholds"

    def effective(self, name: str) -> float:
        value = getattr(self, name)
        return value if value is not None else getattr(settings, THRESHOLD_DEFAULTS[name])


class Alert(models.Model):
    rule = models.CharField(max_length=32)
    key = models.CharField(max_length=2048, blank=True, default="")
    state = models.CharField(max_length=16, choices=AlertState.choices, default=AlertState.FIRING)
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True, default="")
    facts = models.JSONField(default=dict, blank=True)
    fired_at = models.DateTimeField(default=now)
    last_seen_at = models.DateTimeField(default=now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=160, blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-fired_at", "-id"]
        indexes = [
            # The open alerts (every evaluation, the dashboard) and a rule's last one.
            models.Index(fields=["state", "fired_at"], name="alert_state_fired"),
            models.Index(fields=["rule", "key", "resolved_at"], name="alert_rule_key"),
        ]
        constraints = [
            # One open alert per problem, however many sweeps race to fire it.
            models.UniqueConstraint(
                fields=["rule", "key"],
                condition=Q(state__in=OPEN),
                name="alert_one_open_per_rule_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.key} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN


class AlertEvent(models.Model):
    """Append-only history of an alert: fired, acknowledged, resolved."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16)
    actor = models.CharField(max_length=160)
    detail = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["alert", "id"]

    def __str__(self) -> str:
        return f"{self.alert_id} {self.kind}"


class WebhookFormat(models.TextChoices):
    JSON = "json"
    SLACK = "slack"


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class Webhook(models.Model):
    url = models.CharField(max_length=2048)
    format = models.CharField(
        max_length=8, choices=WebhookFormat.choices, default=WebhookFormat.JSON
    )
    # The HMAC key; the receiver holds the same. Shown in full once, at creation.
    secret = models.CharField(max_length=128, default=new_webhook_secret)
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=now)
    created_by = models.CharField(max_length=160, blank=True, default="")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.format} {self.url}"


class DeliveryState(models.TextChoices):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookDelivery(models.Model):
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    event = models.CharField(max_length=32)
    body = models.TextField()  # the exact bytes signed and sent, as UTF-8
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=now)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(default=now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The worker's claim: due deliveries, oldest first.
            models.Index(fields=["state", "next_attempt_at"], name="delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook_id} ({self.state})"
