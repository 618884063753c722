"""The dashboard's Acknowledge button: the same service as `POST /api/alerts/<id>/ack`."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from agentcom_site.core.auth import operator_actor
from agentcom_site.core.errors import HubError
from agentcom_site.operations import alerts


@require_POST
@staff_member_required
def acknowledge_alert(request: HttpRequest, alert_id: int) -> HttpResponse:
    try:
        alerts.acknowledge(alert_id, actor=operator_actor(request.user.get_username()))
        messages.success(request, f"Alert {alert_id} acknowledged.")
    except HubError as refusal:
        messages.error(request, refusal.detail)
    return redirect("dashboard:overview")
