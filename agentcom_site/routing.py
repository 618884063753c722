"""WebSocket routes."""

from django.urls import path

from agentcom_site.dashboard.routing import dashboard_socket
from agents.consumers import AgentConsumer

websocket_urlpatterns = [
    path("ws", AgentConsumer.as_asgi()),
    path("ws/dashboard", dashboard_socket()),
]
