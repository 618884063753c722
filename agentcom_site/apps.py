from django.apps import AppConfig


class AgentcomSiteConfig(AppConfig):
    name = "agentcom_site"
    verbose_name = "AgentCom hub"
