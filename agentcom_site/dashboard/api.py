"""`GET /api/dashboard/state` (PROTOCOL.md §4.7): the snapshot for operators and scripts."""

from django.http import HttpRequest
from ninja import Router

from agentcom_site.core.auth import operator_auth
from agentcom_site.core.schemas import refusals
from agentcom_site.dashboard.responses import DashboardStateOut
from agentcom_site.dashboard.state import dashboard_state

router = Router(tags=["dashboard"])


@router.get(
    "/state",
    auth=operator_auth,
    response={200: DashboardStateOut, **refusals(401, 403)},
    summary="Dashboard snapshot",
)
def state(request: HttpRequest):
    return dashboard_state()
