from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "agentcom_site.operations"
    label = "operations"
    verbose_name = "AgentCom operations"
