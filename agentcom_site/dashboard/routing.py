"""The dashboard socket's ASGI stack: origin check, then the staff session, then the consumer."""

from channels.auth import AuthMiddlewareStack

from agentcom_site.dashboard.consumer import DashboardConsumer
from agentcom_site.dashboard.origin import SameOriginMiddleware


def dashboard_socket():
    return SameOriginMiddleware(AuthMiddlewareStack(DashboardConsumer.as_asgi()))
