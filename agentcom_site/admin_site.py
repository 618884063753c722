"""The admin is the hub's own: its name on every page, a login that says how to get one,
and an index that keeps internal records apart from what operators steer."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

from agentcom_site.core.admin import group_internal_tables


class HubAdminSite(admin.AdminSite):
    site_header = "AgentCom"
    site_title = "AgentCom"
    index_title = "Control room"
    site_url = "/dashboard"
    login_template = "agentcom/login.html"

    def get_app_list(self, request, app_label=None):
        app_list = super().get_app_list(request, app_label)
        return app_list if app_label else group_internal_tables(app_list, self._registry)


class HubAdminConfig(AdminConfig):
    default_site = "agentcom_site.admin_site.HubAdminSite"
