"""URL roots: the JSON API (exact paths, no trailing slashes), the dashboard, the admin.

The addresses a person types (`/`, `/dashboard/`, `/api`, `/api/`) lead somewhere
instead of a 404.
"""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from agentcom_site.api import api
from agentcom_site.operations.metrics import metrics_view
from agentcom_site.operations.views import acknowledge_alert


def go(url: str) -> RedirectView:
    return RedirectView.as_view(url=url, permanent=False)


urlpatterns = [
    path("", go("/dashboard"), name="home"),
    path("dashboard/", go("/dashboard")),
    path("api", go("/api/docs")),
    path("api/", go("/api/docs")),
    path("api/docs/", go("/api/docs")),
    path("", api.urls),
    path("dashboard/alerts/<int:alert_id>/ack", acknowledge_alert, name="alert_ack"),
    path("metrics", metrics_view, name="metrics"),
    path("", include("agentcom_site.dashboard.urls")),
    path("admin/", admin.site.urls),
]
