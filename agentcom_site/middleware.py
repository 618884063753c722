"""Edge checks for the JSON API that apply before any view runs (PROTOCOL.md §4.1)."""

import re
import secrets
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

from agentcom_site.core import logs, metrics
from agentcom_site.core.errors import HubError, invalid, payload_too_large
from agentcom_site.core.validation import BAD_TEXT, loads

API_PREFIXES = ("/api/", "/admin/tokens", "/health")
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
JSON_LIKE = ("application/json", "text/plain", "application/x-www-form-urlencoded", "")


def error_response(error: HubError) -> JsonResponse:
    metrics.refused("http", error.code)
    return JsonResponse(error.as_dict(), status=error.http_status)


REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")
UNMATCHED = "unmatched"


def route_of(request: HttpRequest) -> str:
    """The URL pattern that serves the request (`api/tasks/<task_id>`), never the raw
    path: one label per route however many ids are asked for."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return UNMATCHED
    return "/" + match.route if match.route else UNMATCHED


class RequestObservingMiddleware:
    """Outermost: gives each request an id for its log lines (the client's
    `X-Request-ID` when it is short and plain, else a new one, echoed in the response),
    and counts it by route pattern, method and status."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get("X-Request-ID", "")
        request_id = offered if REQUEST_ID.fullmatch(offered) else secrets.token_hex(8)
        with logs.bound(request_id=request_id, task_id=None, agent_id=None):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        metrics.http_request(route_of(request), request.method or "", response.status_code)
        return response


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES) and not path.startswith(("/api/docs",))


def _check_url_text(request: HttpRequest) -> HubError | None:
    """Paths and query values obey the body's text rule: Postgres cannot compare NUL."""
    if BAD_TEXT.search(request.path):
        return invalid(None, "invalid_value", "the path contains NUL or a lone surrogate")
    for name, values in request.GET.lists():
        if any(BAD_TEXT.search(v) for v in [name, *values]):
            return invalid(name, "invalid_value", f"{name} contains NUL or a lone surrogate")
    return None


class ApiBodyGuardMiddleware:
    """Refuses oversized, non-JSON and malformed bodies, and answers unknown API routes in JSON.

    The parsed body is kept on the request so the API parser does not parse it twice.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_path(request.path):
            return self.get_response(request)
        refusal = _check_url_text(request)
        if refusal is not None:
            return error_response(refusal)
        if request.method in BODY_METHODS:
            refusal = self._check_body(request)
            if refusal is not None:
                return error_response(refusal)
        response = self.get_response(request)
        return self._jsonify(request, response)

    def _check_body(self, request: HttpRequest) -> HubError | None:
        limit = settings.AGENTCOM_MAX_FRAME_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return payload_too_large(limit)
        body = request.body
        if len(body) > limit:
            return payload_too_large(limit)
        if not body.strip():
            request.parsed_json = None
            return None
        content_type = request.content_type or ""
        # Form-encoded is tolerated because `curl -d '{...}'` sends it with a JSON body.
        if content_type not in JSON_LIKE:
            return HubError(
                "unsupported_media_type", "send the body as application/json", http_status=415
            )
        try:
            request.parsed_json = loads(body, what="the body")
        except HubError as refusal:
            return refusal
        return None

    def _jsonify(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        if response.status_code == 404:
            return error_response(
                HubError("not_found", f"no route {request.path}", http_status=404)
            )
        if response.status_code == 405:
            return error_response(
                HubError(
                    "method_not_allowed",
                    f"{request.method} is not allowed on {request.path}",
                    http_status=405,
                )
            )
        return response
