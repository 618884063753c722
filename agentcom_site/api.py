"""The HTTP API root: auth, parsing and error rendering shared by every router."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer

from agentcom_site.errors import HubError, ValidationFailed, forbidden, unauthorized
from agentcom_site.validation import problems_from
from agents.tokens import Principal, authenticate

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class BodyParser(Parser):
    """The middleware already parsed and checked the JSON body."""

    def parse_body(self, request: HttpRequest) -> Any:
        return getattr(request, "parsed_json", None)


def _csrf_ok(request: HttpRequest) -> bool:
    check = CsrfViewMiddleware(lambda r: HttpResponse())
    return check.process_view(request, lambda r: None, (), {}) is None


class HubAuth(HttpBearer):
    """Bearer agent or operator token; a staff session; or `?token=` where `query_token`."""

    def __init__(self, *, query_token: bool = False, operator_only: bool = False) -> None:
        super().__init__()
        self.query_token = query_token
        self.operator_only = operator_only

    def __call__(self, request: HttpRequest) -> Principal | None:
        principal = self._identify(request)
        # Checked before the body is validated, so an agent learns nothing about the schema.
        if principal is not None and self.operator_only and not principal.is_operator:
            raise forbidden("this route is for operators")
        return principal

    def _identify(self, request: HttpRequest) -> Principal | None:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            return self.authenticate(request, header[7:].strip())
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            if request.method not in SAFE_METHODS and not _csrf_ok(request):
                raise forbidden("CSRF check failed for the session request")
            return Principal("operator", user.get_username())
        if self.query_token:
            token = request.GET.get("token")
            if token is None and isinstance(getattr(request, "parsed_json", None), dict):
                token = request.parsed_json.get("token")
            if isinstance(token, str):
                return self.authenticate(request, token)
        return None

    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        return authenticate(token)


any_auth = HubAuth()
legacy_auth = HubAuth(query_token=True)  # routes marked † in PROTOCOL.md §4.1
operator_auth = HubAuth(operator_only=True)


def require_operator(request: HttpRequest) -> Principal:
    principal: Principal = request.auth
    if not principal.is_operator:
        raise forbidden("this route is for operators")
    return principal


api = NinjaAPI(
    title="AgentCom hub API",
    version="1",
    description="Task queue, agents and messaging for AI coding agents (PROTOCOL.md §4).",
    parser=BodyParser(),
    auth=any_auth,
    urls_namespace="api",
    openapi_url="/api/openapi.json",
    docs_url="/api/docs",
)


@api.exception_handler(HubError)
def _hub_error(request: HttpRequest, exc: HubError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.http_status)


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
    from agents.api import health_router, tokens_router
    from agents.api import router as agents_router
    from agents.onboarding import router as onboarding_router
    from messaging.api import router as messaging_router
    from tasks.api import admin_router as tasks_admin_router
    from tasks.api import router as tasks_router

    api.add_router("/health", health_router)
    api.add_router("/api/dashboard", dashboard_router)
    api.add_router("/api/onboard", onboarding_router)
    api.add_router("/api/tasks", tasks_router)
    api.add_router("/api/admin", tasks_admin_router)
    api.add_router("/api", agents_router)
    api.add_router("/admin/tokens", tokens_router)
    api.add_router("/api", messaging_router)


register_routers()
