"""Who is calling, and what each kind of caller may do (PROTOCOL.md §4.1 auth column).

The kernel knows the kinds of principal and the rules; the app that owns a kind of token
registers how such a token is checked (`register_authenticator`), so this module needs
no app. Every HTTP route and socket takes its principal from here.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from ninja.security import HttpBearer

from agentcom_site.core import ratelimit
from agentcom_site.core.errors import forbidden

AGENT = "agent"
OPERATOR = "operator"
OPERATOR_PREFIX = "operator:"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
TOKEN_MAX_CHARS = 256


def operator_actor(name: str) -> str:
    """The actor an operator's changes are recorded under (`submitted_by`, audit rows)."""
    return f"{OPERATOR_PREFIX}{name}"


@dataclass(frozen=True)
class Principal:
    """Who is calling: an agent (acts as itself) or an operator."""

    kind: str  # AGENT or OPERATOR
    name: str
    agent: Any = None  # the agent's row, for an agent principal

    @property
    def is_operator(self) -> bool:
        return self.kind == OPERATOR

    @property
    def actor(self) -> str:
        """The name written into `submitted_by`, `created_by` and audit rows."""
        return self.name if self.kind == AGENT else operator_actor(self.name)

    @property
    def rate_key(self) -> str:
        """The principal's rate buckets (`agent:<id>`, `operator:<name>`)."""
        return ratelimit.principal_key(self.kind, self.name)

    def charge(self, action: str, *, units: int = 1) -> None:
        """Spend `action`'s weight from this principal's budget; 429 `rate_limited` if short."""
        ratelimit.charge(self.rate_key, action, units=units, operator=self.is_operator)


Authenticator = Callable[[str], Principal | None]
_authenticators: list[Authenticator] = []


def register_authenticator(authenticator: Authenticator) -> None:
    """Add a way to turn a bearer token into a principal (tried in registration order)."""
    if authenticator not in _authenticators:
        _authenticators.append(authenticator)


def authenticate(token: str) -> Principal | None:
    """The principal a bearer token stands for, or None when no authenticator knows it."""
    if not token or len(token) > TOKEN_MAX_CHARS:
        return None
    for authenticator in _authenticators:
        principal = authenticator(token)
        if principal is not None:
            return principal
    return None


def _csrf_ok(request: HttpRequest) -> bool:
    check = CsrfViewMiddleware(lambda r: HttpResponse())
    return check.process_view(request, lambda r: None, (), {}) is None


def session_principal(user: Any) -> Principal | None:
    """A logged-in staff user acts as an operator; anybody else is nobody here."""
    if user is not None and user.is_authenticated and user.is_staff:
        return Principal(OPERATOR, user.get_username())
    return None


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
        if principal is not None:
            # Every authenticated request costs at least a read; routes that do more
            # (send, submit, publish) charge their own weight on top.
            principal.charge(ratelimit.READ)
        return principal

    def _identify(self, request: HttpRequest) -> Principal | None:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            return self.authenticate(request, header[7:].strip())
        principal = session_principal(getattr(request, "user", None))
        if principal is not None:
            if request.method not in SAFE_METHODS and not _csrf_ok(request):
                raise forbidden("CSRF check failed for the session request")
            return principal
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
    """*operator*: an operator token or a staff session."""
    principal: Principal = request.auth
    if not principal.is_operator:
        raise forbidden("this route is for operators")
    return principal


def require_agent(request: HttpRequest) -> Principal:
    """*agent*: the caller acts as an agent, so it needs an agent token."""
    principal: Principal = request.auth
    if principal.kind != AGENT:
        raise forbidden("this route is for agents: send an agent token")
    return principal


def require_self(request: HttpRequest, agent_id: str, *, refusal: str) -> Principal:
    """*self*: the agent named in the path, or an operator; refusal says what was refused."""
    principal: Principal = request.auth
    if not principal.is_operator and principal.name != agent_id:
        raise forbidden(refusal)
    return principal
