"""URL roots: the JSON API (exact paths, no trailing slashes), then the admin."""

from django.contrib import admin
from django.urls import path

from agentcom_site.api import api

urlpatterns = [
    path("", api.urls),
    path("admin/", admin.site.urls),
]
