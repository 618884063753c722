"""The dashboard's flow control buttons: pause, resume, drain. Thin: each calls the
same service as the API (`tasks.flow`, `agents.services`) and returns to its page."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from agentcom_site.core.auth import operator_actor
from agentcom_site.core.errors import HubError
from agentcom_site.core.limits import LIMITS
from agents import services
from tasks import flow


def _actor(request: HttpRequest) -> str:
    return operator_actor(request.user.get_username())


def _capability(request: HttpRequest) -> str | None:
    value = (request.POST.get("capability") or "").strip()
    return value[: LIMITS["capability"]] or None


@staff_member_required
@require_POST
def dispatch_pause(request: HttpRequest) -> HttpResponse:
    capability = _capability(request)
    flow.pause(actor=_actor(request), capability=capability, reason="from the dashboard")
    messages.success(request, f"Dispatch paused for {capability or 'all tasks'}.")
    return redirect("dashboard:overview")


@staff_member_required
@require_POST
def dispatch_resume(request: HttpRequest) -> HttpResponse:
    capability = _capability(request)
    flow.resume(actor=_actor(request), capability=capability, reason="from the dashboard")
    messages.success(request, f"Dispatch resumed for {capability or 'all tasks'}.")
    return redirect("dashboard:overview")


@staff_member_required
@require_POST
def agent_drain(request: HttpRequest, agent_id: str) -> HttpResponse:
    draining = request.POST.get("draining") != "no"
    try:
        services.set_draining(agent_id, draining=draining, actor=_actor(request))
    except HubError as refusal:
        messages.error(request, refusal.detail)
        return redirect("dashboard:agents")
    messages.success(request, f"{agent_id} {'is draining' if draining else 'takes work again'}.")
    return redirect("dashboard:agent", agent_id=agent_id)
