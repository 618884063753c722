"""The HTTP API root: mounts every app's router; parsing and error rendering for all.

Part of the composition root: no app imports it.
"""

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser

from agentcom_site.core import metrics
from agentcom_site.core.auth import any_auth
from agentcom_site.core.errors import HubError, ValidationFailed, unauthorized
from agentcom_site.core.ratelimit import RateLimited
from agentcom_site.core.validation import problems_from


class BodyParser(Parser):
    """The middleware already parsed and checked the JSON body."""

    def parse_body(self, request: HttpRequest) -> Any:
        return getattr(request, "parsed_json", None)


api = NinjaAPI(
    title="AgentCom hub API",
    version="1",
    description="Task queue, agents and messaging for AI coding agents (PROTOCOL.md §4).",
    parser=BodyParser(),
    auth=any_auth,
    urls_namespace="api",
    openapi_url="/api/openapi.json",
    docs_url="/api/docs",
    # Swagger UI from django-ninja's own static files ("ninja" is an installed app), never
    # from a CDN: the docs work offline. No validatorUrl: the online validator badge
    # would make every visit call validator.swagger.io.
    docs=Swagger(settings={"validatorUrl": None}),
)


@api.exception_handler(HubError)
def _hub_error(request: HttpRequest, exc: HubError) -> HttpResponse:
    metrics.refused("http", exc.code)
    response = api.create_response(request, exc.as_dict(), status=exc.http_status)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(-(-exc.retry_after_ms // 1000))  # whole seconds, up
    return response


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _hub_error(request, unauthorized())


@api.exception_handler(NinjaValidationError)
def _validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = []
    for err in exc.errors:
        loc = tuple(err.get("loc", ()))
        # ninja prefixes ("body", <param>) or ("query",): strip to the field path.
        loc = loc[2:] if loc[:1] == ("body",) else loc[1:]
        errors.append({**err, "loc": loc})
    return _hub_error(request, ValidationFailed(problems_from(errors)))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _hub_error(request, HubError("http_error", str(exc), http_status=exc.status_code))


def register_routers() -> None:
    from agentcom_site.dashboard.api import router as dashboard_router
    from agentcom_site.operations.api import router as operations_router
    from agentcom_site.operations.loglevel import router as log_level_router
    from agentcom_site.registration import router as onboarding_router
    from agents.api import health_router, tokens_router
    from agents.api import router as agents_router
    from messaging.api import router as messaging_router
    from tasks.api import admin_router as tasks_admin_router
    from tasks.api import router as tasks_router
    from tasks.costs_api import router as costs_router
    from tasks.dispatch_api import router as dispatch_router
    from tasks.repos_api import budget_router
    from tasks.repos_api import router as repos_router

    api.add_router("/health", health_router)
    api.add_router("/api/dashboard", dashboard_router)
    api.add_router("/api/onboard", onboarding_router)
    api.add_router("/api/tasks", tasks_router)
    api.add_router("/api/admin", tasks_admin_router)
    api.add_router("/api/dispatch", dispatch_router)
    api.add_router("/api/costs", costs_router)
    api.add_router("/api/repos", repos_router)
    api.add_router("/api/budget", budget_router)
    api.add_router("/api/admin", log_level_router)
    api.add_router("/api", agents_router)
    api.add_router("/admin/tokens", tokens_router)
    api.add_router("/api", messaging_router)
    api.add_router("/api", operations_router)


register_routers()
