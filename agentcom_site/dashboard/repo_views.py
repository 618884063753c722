"""The Repos page: registered repos with today's spend against their budget, a form to
register one, budgets (each repo's and the fleet's), pause and resume. Every form is
checked by the API's own schema and goes through the same services (`tasks.repos`,
`tasks.budgets`)."""

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from agentcom_site.core.admin import request_actor
from agentcom_site.core.errors import HubError, ValidationFailed
from agentcom_site.core.validation import validate
from tasks import budgets, repos
from tasks.repos_api import BudgetIn, RepoChangeIn, RepoIn

PRIORITIES = [("2", "normal"), ("0", "urgent"), ("1", "high"), ("3", "low")]


class RepoForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.CharField(max_length=2000, help_text="https://, ssh://, git@host:path or file://")
    default_branch = forms.CharField(max_length=200, initial="main")
    priority = forms.ChoiceField(choices=PRIORITIES, help_text="the lane of its tasks")
    daily_budget_usd = forms.CharField(required=False, max_length=20, label="Daily budget (USD)")


def _number(text: str) -> Any:
    """A budget as typed: "" is none; a number as a number, anything else as typed (the
    schema then refuses it with its own sentence)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return text


def _checked(schema, body: dict[str, Any], form: forms.Form | None = None):
    try:
        return validate(schema, body)
    except ValidationFailed as refusal:
        for problem in refusal.problems:
            field = (problem.field or "").split(".")[0] or None
            if form is not None and field in form.fields:
                form.add_error(field, problem.detail)
            elif form is not None:
                form.add_error(None, problem.detail)
        return None


@staff_member_required
def repo_list(request: HttpRequest) -> HttpResponse:
    form = RepoForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        body = {**data, "priority": int(data["priority"])}
        body["daily_budget_usd"] = _number(data["daily_budget_usd"])
        parsed = _checked(RepoIn, body, form)
        if parsed is not None:
            try:
                fields = {key: getattr(parsed, key) for key in RepoIn.model_fields}
                repos.create(actor=request_actor(request), **fields)
            except HubError as refusal:
                form.add_error("name", refusal.detail)
            else:
                messages.success(request, f"Repo {parsed.name} registered.")
                return redirect("dashboard:repos")
    return render(
        request,
        "dashboard/repos.html",
        {
            "form": form,
            "repos": repos.listing(settings.AGENTCOM_LIST_MAX),
            "fleet": repos.fleet_view(),
        },
    )


def _back(request: HttpRequest, refusal: HubError) -> HttpResponse:
    messages.error(request, refusal.detail)
    return redirect("dashboard:repos")


@staff_member_required
@require_POST
def repo_pause(request: HttpRequest, name: str) -> HttpResponse:
    pause = request.POST.get("paused") != "no"
    service = repos.pause if pause else repos.resume
    try:
        service(actor=request_actor(request), name=name, reason="from the dashboard")
    except HubError as refusal:
        return _back(request, refusal)
    messages.success(request, f"Repo {name} {'paused' if pause else 'resumed'}.")
    return redirect("dashboard:repos")


@staff_member_required
@require_POST
def repo_budget(request: HttpRequest, name: str) -> HttpResponse:
    amount = _number(request.POST.get("daily_budget_usd", ""))
    parsed = _checked(RepoChangeIn, {"daily_budget_usd": amount})
    if parsed is None:
        messages.error(request, "A budget is a number of dollars from 0, or empty for none.")
        return redirect("dashboard:repos")
    try:
        changes = {"daily_budget_usd": parsed.daily_budget_usd}
        repos.update(actor=request_actor(request), name=name, changes=changes)
    except HubError as refusal:
        return _back(request, refusal)
    messages.success(request, f"Budget of {name} saved.")
    return redirect("dashboard:repos")


@staff_member_required
@require_POST
def fleet_budget(request: HttpRequest) -> HttpResponse:
    amount = _number(request.POST.get("daily_budget_usd", ""))
    parsed = _checked(BudgetIn, {"daily_budget_usd": amount})
    if parsed is None:
        messages.error(request, "A budget is a number of dollars from 0, or empty for the default.")
        return redirect("dashboard:repos")
    budgets.set_fleet_budget(
        actor=request_actor(request), budget=parsed.daily_budget_usd, reason="from the dashboard"
    )
    messages.success(request, "Fleet budget saved.")
    return redirect("dashboard:repos")
