"""Admin for alerts (acknowledge as an action), their thresholds and the webhooks."""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from agentcom_site.core.admin import request_actor
from agentcom_site.core.errors import HubError
from agentcom_site.core.links import is_web_url
from agentcom_site.operations import alerts
from agentcom_site.operations.models import (
    Alert,
    AlertEvent,
    AlertSettings,
    Webhook,
    WebhookDelivery,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class AlertEventInline(ReadOnlyInline):
    model = AlertEvent
    fields = readonly_fields = ("created_at", "kind", "actor", "detail")


@admin.action(description="Acknowledge the selected alerts")
def acknowledge(modeladmin, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
    done = 0
    for alert_id in queryset.values_list("pk", flat=True):
        try:
            alerts.acknowledge(alert_id, actor=request_actor(request))
            done += 1
        except HubError:
            pass
    modeladmin.message_user(request, f"{done} alert(s) acknowledged.", messages.SUCCESS)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("id", "rule", "key", "state", "title", "fired_at", "acknowledged_by")
    list_filter = ("state", "rule")
    readonly_fields = [f.name for f in Alert._meta.fields]
    inlines = [AlertEventInline]
    actions = [acknowledge]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AlertSettings)
class AlertSettingsAdmin(admin.ModelAdmin):
    """Empty fields follow the AGENTCOM_ALERT_* settings."""

    exclude = ("evaluated_at", "queue_samples", "last_backup_at", "updated_by", "updated_at")
    list_display = ("__str__", "updated_by", "updated_at")

    def has_add_permission(self, request) -> bool:
        return not AlertSettings.objects.exists()

    def save_model(self, request, obj, form, change) -> None:
        obj.updated_by = request_actor(request)[:160]
        super().save_model(request, obj, form, change)


class WebhookForm(forms.ModelForm):
    class Meta:
        model = Webhook
        fields = ("url", "format", "description", "enabled")

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not is_web_url(url):
            raise forms.ValidationError("An absolute http:// or https:// URL with a host.")
        return url


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookForm
    list_display = ("id", "url", "format", "enabled", "created_by", "created_at")
    readonly_fields = ("secret", "created_by", "created_at")

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request_actor(request)[:160]
        super().save_model(request, obj, form, change)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "webhook", "event", "state", "attempts", "last_status", "last_error")
    list_filter = ("state", "event")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
