"""URL roots: the JSON API (exact paths, no trailing slashes), then the admin."""

from django.contrib import admin
from django.urls import include, path

from agentcom_site.api import api

urlpatterns = [
    path("", api.urls),
    path("", include("agentcom_site.dashboard.urls")),
    path("admin/", admin.site.urls),
]
