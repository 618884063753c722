"""Admin pages of the repo registry, the fleet budget and the attempt costs.

Every change goes through `tasks.repos` and `tasks.budgets` (audited, wakes the
scheduler); the form checks each field by the API's own rules (`core.gitnames`).
"""

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from agentcom_site.core.admin import request_actor
from agentcom_site.core.gitnames import branch_problem, repo_slug_problem, repo_url_problem
from agentcom_site.core.limits import BUDGET_USD_MAX
from tasks import budgets, repos
from tasks.models import AttemptCost, FleetBudget, Priority, Repo

BUDGET_FIELD = {
    "max_digits": 16,
    "decimal_places": 6,
    "min_value": Decimal(0),
    "max_value": Decimal(BUDGET_USD_MAX),
    "required": False,
}


def _checked(check, value: str) -> str:
    problem = check(value)
    if problem is not None:
        raise forms.ValidationError(problem)
    return value


class RepoForm(forms.ModelForm):
    priority = forms.TypedChoiceField(choices=Priority.choices, coerce=int, initial=Priority.NORMAL)
    daily_budget_usd = forms.DecimalField(**BUDGET_FIELD, label="Daily budget (USD)")

    class Meta:
        model = Repo
        fields = ("name", "url", "default_branch", "priority", "daily_budget_usd")

    def clean_name(self) -> str:
        return _checked(repo_slug_problem, self.cleaned_data["name"])

    def clean_url(self) -> str:
        return _checked(repo_url_problem, self.cleaned_data["url"])

    def clean_default_branch(self) -> str:
        return _checked(branch_problem, self.cleaned_data["default_branch"])


def _each(service, label: str):
    def action(modeladmin, request: HttpRequest, queryset: QuerySet[Repo]) -> None:
        changed = 0
        for name in queryset.values_list("name", flat=True):
            changed += service(actor=request_actor(request), name=name, reason="admin")[1]
        modeladmin.message_user(request, f"{label}: {changed} changed.", messages.SUCCESS)

    action.short_description = label
    action.__name__ = label.lower().replace(" ", "_")
    return action


@admin.register(Repo)
class RepoAdmin(admin.ModelAdmin):
    """Registered repos; pausing holds their queued tasks, a budget their spend."""

    form = RepoForm
    list_display = (
        "name",
        "url",
        "default_branch",
        "priority",
        "paused",
        "daily_budget_usd",
        "spent_today",
    )
    list_filter = ("paused",)
    search_fields = ("name", "url")
    actions = [_each(repos.pause, "Pause repos"), _each(repos.resume, "Resume repos")]

    def get_readonly_fields(self, request: HttpRequest, obj: Repo | None = None):
        return ("name", "paused", "paused_by", "paused_reason", "paused_at") if obj else ()

    @admin.display(description="Spent today (USD)")
    def spent_today(self, repo: Repo) -> str:
        return f"{budgets.spent_today([repo.name]):.2f}"

    def save_model(self, request: HttpRequest, obj: Repo, form, change: bool) -> None:
        values = {key: form.cleaned_data[key] for key in repos.EDITABLE}
        if change:
            repos.update(actor=request_actor(request), name=obj.name, changes=values)
        else:
            created = repos.create(actor=request_actor(request), name=obj.name, **values)
            obj.pk = created.pk


@admin.register(FleetBudget)
class FleetBudgetAdmin(admin.ModelAdmin):
    """The fleet's daily budget: empty is AGENTCOM_FLEET_DAILY_BUDGET_USD."""

    fields = ("daily_budget_usd",)
    list_display = ("__str__", "daily_budget_usd", "updated_by", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not FleetBudget.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: FleetBudget, form, change: bool) -> None:
        budgets.set_fleet_budget(actor=request_actor(request), budget=obj.daily_budget_usd)
        obj.pk = budgets.FLEET_ROW


@admin.register(AttemptCost)
class AttemptCostAdmin(admin.ModelAdmin):
    """What each reported attempt cost: read only."""

    list_display = ("reported_at", "task", "outcome", "agent_id", "repo", "model", "cost_usd")
    list_filter = ("outcome",)
    search_fields = ("task__id", "agent_id", "repo")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
