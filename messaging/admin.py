"""Messaging admin: read-only views. Changes go through the API, which runs the services
(routing, subscriptions, config) and their after-commit pushes."""

from django.contrib import admin
from django.db.models import Count

from messaging.models import (
    Channel,
    ConfigValue,
    ConnectionSession,
    HourlyTraffic,
    MailboxEntry,
    Message,
    Subscription,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    fields = ("agent", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Channel)
class ChannelAdmin(ReadOnlyAdmin):
    list_display = ("name", "description", "subscribers", "last_seq", "created_by", "created_at")
    search_fields = ("name", "description")
    inlines = [SubscriptionInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(subscriber_total=Count("subscriptions"))

    @admin.display(ordering="subscriber_total")
    def subscribers(self, channel: Channel) -> int:
        return channel.subscriber_total


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "sender", "recipient", "channel", "message_type", "created_at")
    list_filter = ("kind", "message_type")
    search_fields = ("id", "sender", "recipient", "thread_root")
    list_select_related = ("channel",)
    date_hierarchy = "created_at"


@admin.register(MailboxEntry)
class MailboxEntryAdmin(ReadOnlyAdmin):
    list_display = ("seq", "owner", "letter")
    list_select_related = ("letter",)
    search_fields = ("owner", "letter__message_id", "letter__sender")


@admin.register(HourlyTraffic)
class HourlyTrafficAdmin(ReadOnlyAdmin):
    internal_table = True
    list_display = ("agent_id", "bucket", "sent", "received")
    search_fields = ("agent_id",)


@admin.register(ConnectionSession)
class ConnectionSessionAdmin(ReadOnlyAdmin):
    internal_table = True
    list_display = ("agent_id", "started_at", "ended_at")
    search_fields = ("agent_id",)


@admin.register(ConfigValue)
class ConfigValueAdmin(ReadOnlyAdmin):
    internal_table = True
    list_display = ("key", "value", "updated_by", "updated_at")
