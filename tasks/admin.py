"""Task admin: the control room's view of the queue, with transitions as buttons."""

import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join

from agentcom_site.core.admin import ServiceTransitionsMixin, request_actor
from agentcom_site.core.errors import HubError
from agentcom_site.core.links import web_link
from tasks import flow, queue
from tasks.admin_questions import QuestionAdminMixin
from tasks.models import DispatchPause, FlowChange, Task, TaskEvent, WipCap

# The task page shows this many of the latest events; the rest are a link away, in the
# paginated event list (one task once carried 6 000 events: an 11 MiB page).
INLINE_EVENTS = 50


# What a row of the timeline shows, in the inline and in the paginated event list.
EVENT_COLUMNS = ("event", "from_status", "to_status", "actor", "agent_id", "generation", "repeats")


class TaskEventInline(admin.TabularInline):
    model = TaskEvent
    verbose_name_plural = f"Timeline (latest {INLINE_EVENTS} events, UTC)"
    fields = ("seq", "at", "what", "from_status", "to_status", "actor", "agent_id", "reason")
    readonly_fields = fields
    ordering = ("-seq",)

    @admin.display(description="Time (UTC)")
    def at(self, event: TaskEvent) -> str:
        return formats.date_format(timezone.localtime(event.created_at), "DATETIME_FORMAT")

    @admin.display(description="Event")
    def what(self, event: TaskEvent) -> str:
        """The event, with its repeats, its generation and, for a wake, the attempt's outcome."""
        text = "wake attempt" if event.event == "wake" else event.event
        if event.event == "wake" and isinstance(event.details, dict):
            text += f" #{event.details.get('attempt') or '?'} {event.details.get('status', '')}"
        if event.repeats > 1:
            text += f" x{event.repeats}"
        return f"{text} (gen {event.generation})"

    def get_queryset(self, request: HttpRequest) -> QuerySet[TaskEvent]:
        events = super().get_queryset(request)
        match = request.resolver_match
        task_id = match.kwargs.get("object_id") if match else None
        if not task_id:
            return events
        latest = events.filter(task_id=task_id).order_by("-seq")[:INLINE_EVENTS]
        return events.filter(pk__in=list(latest.values_list("pk", flat=True)))

    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class AgentFilter(admin.RelatedOnlyFieldListFilter):
    """The holder filter, named as the dashboard names the column."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.title = "agent"


def _bulk(service, label: str):
    def action(modeladmin, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        done, refused = 0, 0
        for task_id in queryset.values_list("pk", flat=True):
            try:
                service(task_id, request_actor(request))
                done += 1
            except HubError:
                refused += 1
        level = messages.SUCCESS if not refused else messages.WARNING
        modeladmin.message_user(
            request, f"{label}: {done} done, {refused} not in a valid state.", level
        )

    action.short_description = label
    action.__name__ = f"bulk_{label.lower().replace(' ', '_')}"
    return action


def _requeue(task_id: str, actor: str) -> None:
    try:
        queue.reclaim_task(task_id, reason="operator_requeue", actor=actor)
    except queue.TaskRefused:
        raise HubError("invalid_state", "only assigned or working tasks can be requeued") from None


@admin.register(Task)
class TaskAdmin(QuestionAdminMixin, ServiceTransitionsMixin, admin.ModelAdmin):
    fsm_fields = ["status"]
    transition_services = {
        "cancel": lambda task, actor: queue.cancel_task(
            task.pk, actor=actor, reason="cancelled by operator"
        ),
        "retry": lambda task, actor: queue.retry_dead_letter(task.pk, actor=actor),
        "reclaim": lambda task, actor: _requeue(task.pk, actor),
    }
    # Fits 1 280 px beside the filters: the id is on the task page and in the search.
    list_display = ("short_title", "coloured_status", "priority", "agent", "attempt", "created_at")
    list_display_links = ("short_title",)
    list_select_related = ("holder",)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("id", "coloured_status"),
                    "title",
                    ("priority", "attempt"),
                    ("agent", "pinned_to"),
                    "capabilities_needed",
                    "submitted_by",
                    "depends_on",
                )
            },
        ),
        (
            "Work",
            {"fields": ("description", "result_text", "pull_request", "last_error", "progress")},
        ),
        (
            "Question to the operator",
            {"fields": ("question_and_answer", "parent_and_children")},
        ),
        (
            "What done means",
            {
                "description": "Set at submission (API or dashboard form); read only.",
                "fields": (
                    ("repo", "branch"),
                    "file_hints_list",
                    "success_criteria",
                    "steps_list",
                    "max_verification_retries",
                    ("complexity", "complexity_estimated"),
                    "complexity_reason",
                ),
            },
        ),
        (
            "What it cost",
            {
                "description": "From the agent's result; summed at /api/costs.",
                "fields": (
                    ("model", "session_id"),
                    ("tokens_in", "tokens_out"),
                    ("cost_usd", "cost_computed"),
                    ("execution_ms", "iterations"),
                ),
            },
        ),
        (
            "Times (UTC)",
            {
                "fields": (
                    ("created_at", "assigned_at"),
                    ("accepted_at", "completed_at"),
                    "complete_by",
                )
            },
        ),
        (
            "Internal",
            {
                "classes": ("collapse",),
                "description": "Bookkeeping of the queue; it changes only through the buttons.",
                "fields": (
                    ("generation", "retry_count", "max_retries"),
                    "capability_key",
                    "waiting_on",
                    "all_events",
                    "rejected_by",
                    "held_off",
                    "tokens_used",
                    "idempotency_key",
                    "metadata",
                    ("last_activity_at", "holder_lost_at", "updated_at"),
                ),
            },
        ),
    )
    list_filter = ("status", "priority", ("holder", AgentFilter))
    search_fields = ("id", "title", "description", "holder__agent_id", "submitted_by")
    ordering = ("-created_at",)
    inlines = [TaskEventInline]
    actions = [
        _bulk(lambda pk, actor: queue.retry_dead_letter(pk, actor=actor), "Retry dead letters"),
        _bulk(
            lambda pk, actor: queue.cancel_task(pk, actor=actor, reason="cancelled by operator"),
            "Cancel",
        ),
        _bulk(_requeue, "Requeue held tasks"),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Task | None = None) -> list[str]:
        # Every change goes through a transition button or action, so it is audited.
        return [f.name for f in Task._meta.concrete_fields] + [
            "depends_on",
            "all_events",
            "pull_request",
            "coloured_status",
            "attempt",
            "agent",
            "capabilities_needed",
            "result_text",
            "file_hints_list",
            "steps_list",
            "question_and_answer",
            "parent_and_children",
        ]

    @admin.display(description="File hints")
    def file_hints_list(self, task: Task) -> str:
        return ", ".join(str(path) for path in task.file_hints or []) or "-"

    @admin.display(description="Verification steps")
    def steps_list(self, task: Task) -> str:
        """Each step on a line: its type, then its fields as given (escaped)."""
        steps = [s for s in task.verification_steps or [] if isinstance(s, dict)]
        if not steps:
            return "-"
        rows = format_html_join(
            "",
            "<li><strong>{}</strong> {}</li>",
            (
                (
                    step.get("type", "?"),
                    " ".join(f"{k}={json.dumps(v)}" for k, v in step.items() if k != "type"),
                )
                for step in steps
            ),
        )
        return format_html('<ol class="verification-steps">{}</ol>', rows)

    @admin.display(description="Needs")
    def capabilities_needed(self, task: Task) -> str:
        return ", ".join(str(c) for c in task.needed_capabilities or []) or "nothing special"

    @admin.display(description="Result")
    def result_text(self, task: Task) -> str:
        """Text fields as written, line breaks and all; the rest as JSON (escaped)."""
        if task.result is None:
            return "-"
        fields = task.result if isinstance(task.result, dict) else {"": task.result}
        lines = [
            (f"{key}: " if key else "")
            + (value if isinstance(value, str) else json.dumps(value, indent=2))
            for key, value in fields.items()
        ]
        return format_html('<pre class="result-text">{}</pre>', "\n".join(lines))

    @admin.display(description="Title", ordering="title")
    def short_title(self, task: Task) -> str:
        return format_html('<span class="short-title" title="{}">{}</span>', task.title, task.title)

    @admin.display(description="Status", ordering="status")
    def coloured_status(self, task: Task) -> str:
        return format_html('<span class="status-badge s-{}">{}</span>', task.status, task.status)

    @admin.display(description="Agent", ordering="holder__agent_id")
    def agent(self, task: Task) -> str:
        if not task.holder_id:
            return "-"
        url = reverse("admin:agents_agent_change", args=[task.holder_id])
        return format_html('<a href="{}">{}</a>', url, task.holder.agent_id)

    @admin.display(description="Attempt")
    def attempt(self, task: Task) -> str:
        return task.attempt_label

    @admin.display(description="Events")
    def all_events(self, task: Task) -> str:
        url = reverse("admin:tasks_taskevent_changelist")
        return format_html(
            '<a href="{}?q={}">all {} events, paginated</a>', url, task.pk, task.event_count
        )

    @admin.display(description="Pull request")
    def pull_request(self, task: Task):
        """The agent's `pr_url`: a link only when it is an http(s) URL."""
        result = task.result if isinstance(task.result, dict) else {}
        return web_link(result.get("pr_url"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tasks enter through the queue service (API, dashboard form)

    def has_delete_permission(self, request: HttpRequest, obj: Task | None = None) -> bool:
        return False  # the audit trail stays; cancel is the operator's way out


@admin.register(TaskEvent)
class TaskEventAdmin(admin.ModelAdmin):
    internal_table = True
    list_display = ("task", "seq", *EVENT_COLUMNS, "created_at")
    list_filter = ("event", "to_status")
    search_fields = ("task__id", "actor", "agent_id", "reason")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# --- flow control: every change goes through tasks.flow (audited, wakes the scheduler) ---


@admin.register(DispatchPause)
class DispatchPauseAdmin(admin.ModelAdmin):
    """Adding a row pauses (a blank capability pauses everything); deleting resumes."""

    list_display = ("__str__", "paused_by", "paused_at", "reason")
    fields = ("capability", "reason")

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple[str, ...]:
        return ("capability", "reason") if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: DispatchPause, form, change: bool) -> None:
        if change:
            return
        flow.pause(actor=request_actor(request), capability=obj.capability, reason=obj.reason)
        obj.pk = DispatchPause.objects.get(capability=obj.capability).pk

    def delete_model(self, request: HttpRequest, obj: DispatchPause) -> None:
        flow.resume(actor=request_actor(request), capability=obj.capability, reason="admin")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for pause in queryset:
            self.delete_model(request, pause)


@admin.register(WipCap)
class WipCapAdmin(admin.ModelAdmin):
    """At most `limit` held tasks per capability or submitter; deleting lifts the cap."""

    list_display = ("scope", "key", "limit", "set_by", "set_at")
    list_filter = ("scope",)
    fields = ("scope", "key", "limit")

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple[str, ...]:
        return ("scope", "key") if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: WipCap, form, change: bool) -> None:
        flow.set_cap(actor=request_actor(request), scope=obj.scope, key=obj.key, limit=obj.limit)
        obj.pk = WipCap.objects.get(scope=obj.scope, key=obj.key).pk

    def delete_model(self, request: HttpRequest, obj: WipCap) -> None:
        flow.set_cap(actor=request_actor(request), scope=obj.scope, key=obj.key, limit=None)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for cap in queryset:
            self.delete_model(request, cap)


@admin.register(FlowChange)
class FlowChangeAdmin(admin.ModelAdmin):
    """The audit of pauses, resumes and caps: read only."""

    list_display = ("created_at", "action", "scope", "key", "limit", "actor", "reason")
    list_filter = ("action", "scope")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
