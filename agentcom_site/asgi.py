"""ASGI entry point: Django for HTTP, Channels consumers for WebSockets.

The agent socket authenticates with its first frame (PROTOCOL.md §2.1), so it needs
no session middleware; the dashboard socket adds its own.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentcom_site.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from agentcom_site.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
