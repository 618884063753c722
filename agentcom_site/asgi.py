"""ASGI entry point: Django for HTTP, Channels consumers for WebSockets.

The agent socket authenticates with its first frame (PROTOCOL.md §2.1), so it needs
no session middleware; the dashboard socket adds its own.
"""

import os

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentcom_site.settings")
django.setup(set_prefix=False)


class HubASGIHandler(ASGIHandler):
    """Django's handler without a thread per request, and with one thread hop per request.

    Django wraps each request in its own thread-sensitive context, so every request
    starts a thread and opens a database connection. Here HTTP views share the one
    long-lived database thread the socket consumers already use: on SQLite writers are
    serialised anyway, and the connection stays open.

    The middleware chain is built synchronously and run in that thread in one go. In
    Django's async mode each middleware hook and the sync view is its own hop between
    the event loop and the thread (some twenty per request), which cost more than the
    request itself.
    """

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)


django_asgi_app = HubASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from agentcom_site import background  # noqa: E402
from agentcom_site.routing import websocket_urlpatterns  # noqa: E402


async def lifespan(scope, receive, send) -> None:
    """Servers that speak the ASGI lifespan protocol (uvicorn) get the background
    duties `runhub` starts under daphne: liveness, and in embedded mode the
    scheduler and the sweep. Embedded mode assumes one process, as with runhub."""
    embedded = settings.AGENTCOM_EMBEDDED_SCHEDULER
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await sync_to_async(background.prepare)(fresh_start=embedded)
            background.start(scheduler_enabled=embedded)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            background.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
        "lifespan": lifespan,
    }
)
