"""ASGI entry point: Django for HTTP, Channels consumers for WebSockets.

The agent socket authenticates with its first frame (PROTOCOL.md §2.1), so it needs
no session middleware; the dashboard socket adds its own.
"""

import json
import logging
import os
import tempfile

import django
from asgiref.sync import sync_to_async
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpResponse, JsonResponse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentcom_site.settings")
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402

from agentcom_site.core import metrics  # noqa: E402
from agentcom_site.core.errors import HubError, payload_too_large  # noqa: E402

log = logging.getLogger("agentcom.http")


class BodyTooLarge(Exception):
    """The body streamed past the limit; nothing more of it is read."""


def declared_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def send_refusal(send, error: HubError) -> None:
    metrics.refused("http", error.code)
    body = json.dumps(error.as_dict()).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def capped(response: HttpResponse) -> HttpResponse:
    """The net under every page and list limit: a body over AGENTCOM_MAX_RESPONSE_BYTES
    is a bug somewhere above, so it is logged and refused rather than sent."""
    limit = settings.AGENTCOM_MAX_RESPONSE_BYTES
    if response.streaming or len(response.content) <= limit:
        return response
    log.error("refused to send a %d byte response (limit %d)", len(response.content), limit)
    error = HubError(
        "response_too_large",
        f"the response is over the {limit} byte limit; ask for a smaller page",
        http_status=500,
    )
    return JsonResponse(error.as_dict(), status=error.http_status)


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

    def get_response(self, request):
        return capped(super().get_response(request))

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        # Refused before a byte of the body is read, on every route. Under daphne the
        # body is already bounded while it arrives (daphne_server.HubWebRequest); this
        # is the same rule for servers that stream the body to the application.
        limit = settings.AGENTCOM_MAX_FRAME_BYTES
        length = declared_length(scope)
        if length is not None and length > limit:
            await send_refusal(send, payload_too_large(limit))
            return
        try:
            await self.handle(scope, receive, send)
        except BodyTooLarge:
            await send_refusal(send, payload_too_large(limit))

    async def read_body(self, receive):
        """Django's `read_body`, counting: past the limit it stops reading and refuses."""
        limit = settings.AGENTCOM_MAX_FRAME_BYTES
        body_file = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (returned open, as Django does)
            max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b"
        )
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                body_file.close()
                raise RequestAborted()
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                body_file.close()
                raise BodyTooLarge()
            body_file.write(chunk)
            if not message.get("more_body", False):
                break
        body_file.seek(0)
        return body_file


django_asgi_app = HubASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

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
            await sync_to_async(background.release_this_process)()
            await send({"type": "lifespan.shutdown.complete"})
            return


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
        "lifespan": lifespan,
    }
)
