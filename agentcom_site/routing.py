"""WebSocket routes."""

from django.urls import path

from agents.consumers import AgentConsumer

websocket_urlpatterns = [
    path("ws", AgentConsumer.as_asgi()),
]
