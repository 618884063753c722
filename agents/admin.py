"""Agent and token admin. Tokens are shown once, on creation, and never stored in clear."""

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html

from agentcom_site.core.admin import ServiceTransitionsMixin, request_actor
from agents import services, tokens
from agents.models import Agent, AgentToken, OperatorToken


class AgentTokenInline(admin.TabularInline):
    model = AgentToken
    fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Agent)
class AgentAdmin(ServiceTransitionsMixin, admin.ModelAdmin):
    fsm_fields = ["state"]
    transition_services = {
        "block": lambda agent, actor: services.block_agent(agent.pk, actor=actor),
        "unblock": lambda agent, actor: services.unblock_agent(agent.pk, actor=actor),
    }
    list_display = (
        "agent_id",
        "name",
        "coloured_state",
        "flags_in_words",
        "connected_at",
        "last_seen",
    )
    list_filter = ("state", "unresponsive", "busy", "draining")
    search_fields = ("agent_id", "name")
    # What the hub knows of the agent, in words; process bookkeeping (its socket's
    # channel name, the hub process holding it) is left out.
    fieldsets = (
        (None, {"fields": (("agent_id", "name"), ("coloured_state", "flags_in_words"), "note")}),
        ("Declared", {"fields": ("declared_capabilities",)}),
        (
            "Connection (UTC)",
            {
                "fields": (
                    ("connected_at", "last_seen"),
                    ("idle_since", "last_state_change"),
                    ("total_connections", "created_at"),
                )
            },
        ),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Agent | None = None) -> list[str]:
        # A transition button submits the whole form: with nothing editable, a stale
        # form cannot overwrite what the agent declared since (it re-declares at identify).
        if obj is None:
            return ["state"]
        return [f.name for f in Agent._meta.concrete_fields] + [
            "coloured_state",
            "flags_in_words",
            "note",
            "declared_capabilities",
        ]

    @admin.display(description="Capabilities")
    def declared_capabilities(self, agent: Agent) -> str:
        names = [c.get("name") if isinstance(c, dict) else c for c in agent.capabilities or []]
        return ", ".join(str(name) for name in names) or "none"

    @admin.display(description="State", ordering="state")
    def coloured_state(self, agent: Agent) -> str:
        return format_html('<span class="status-badge a-{}">{}</span>', agent.state, agent.state)

    @admin.display(description="Flags")
    def flags_in_words(self, agent: Agent) -> str:
        return ", ".join(agent.flags) or "none"

    @admin.display(description="Agent's note")
    def note(self, agent: Agent) -> str:
        """What the agent last said about itself; its state above is the hub's view."""
        if not agent.status_text or agent.status_text == agent.state:
            return "none"
        return f"“{agent.status_text}”"

    inlines = [AgentTokenInline]
    actions = ["issue_token", "revoke_tokens", "drain", "undrain"]

    @admin.action(description="Drain (finish the current task, take no new one)")
    def drain(self, request: HttpRequest, queryset) -> None:
        for agent in queryset:
            services.set_draining(agent.agent_id, draining=True, actor=request_actor(request))
        self.message_user(request, f"Draining {queryset.count()} agent(s).")

    @admin.action(description="Lift the drain")
    def undrain(self, request: HttpRequest, queryset) -> None:
        for agent in queryset:
            services.set_draining(agent.agent_id, draining=False, actor=request_actor(request))
        self.message_user(request, f"Lifted the drain of {queryset.count()} agent(s).")

    @admin.action(description="Issue a new token (shown once)")
    def issue_token(self, request: HttpRequest, queryset) -> None:
        for agent in queryset:
            _, token = tokens.issue_agent_token(agent)
            self.message_user(
                request,
                f"New token for {agent.agent_id} (copy it now, it is not shown again): {token}",
                messages.WARNING,
            )

    @admin.action(description="Revoke all tokens")
    def revoke_tokens(self, request: HttpRequest, queryset) -> None:
        for agent in queryset:
            count = tokens.revoke_agent_tokens(agent.agent_id)
            self.message_user(request, f"Revoked {count} token(s) of {agent.agent_id}.")


@admin.register(OperatorToken)
class OperatorTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    fields = ("name", "prefix", "created_at", "last_used_at", "revoked_at")

    def save_model(self, request: HttpRequest, obj: OperatorToken, form, change: bool) -> None:
        if change:
            return super().save_model(request, obj, form, change)
        row, token = tokens.issue_operator_token(obj.name)
        obj.pk = row.pk
        self.message_user(
            request, f"Operator token for {obj.name} (shown once): {token}", messages.WARNING
        )
