"""Origin check for the dashboard socket.

A browser sends the staff session cookie with any page's WebSocket, so the upgrade must
come from the hub's own pages (or an origin the operator trusts for CSRF). Channels'
`AllowedHostsOriginValidator` is not enough here: with the default `ALLOWED_HOSTS = *`
it lets every origin in.
"""

from collections.abc import Iterable
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin1")
    return None


def origin_allowed(origin: str | None, host: str | None, trusted: Iterable[str]) -> bool:
    """Same host as the request, or listed in CSRF_TRUSTED_ORIGINS; a missing Origin is refused."""
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    if host and parts.netloc.lower() == host.lower():
        return True
    return f"{parts.scheme}://{parts.netloc}".lower() in {t.lower() for t in trusted}


class SameOriginMiddleware:
    """Refuses the upgrade (403 at the handshake) unless the Origin is allowed."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(
            _header(scope, b"origin"), _header(scope, b"host"), settings.CSRF_TRUSTED_ORIGINS
        ):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)
