"""The API against its own OpenAPI schema, with generated requests (schemathesis).

As an operator and as an agent: no request makes the hub answer 5xx, and every answer
has a status, content type and body the schema documents.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agents import services, tokens

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(autouse=True, scope="module")
def requests_keep_the_test_connection():
    """The app is called as WSGI, not through Django's test client, so do what the client
    does: a finished request must not close the connection holding the test's transaction."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def bearer_for(role: str) -> str:
    """A fresh token of role (one insert: the test's transaction holds every example)."""
    if role == "operator":
        return tokens.issue_operator_token("fuzz-ops")[1]
    agent, _ = services.ensure_agent("fuzz-agent")
    return tokens.issue_agent_token(agent)[1]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["operator", "agent"])
@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_keeps_to_its_schema(case, role):
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {bearer_for(role)}"}
    case.call_and_validate(checks=CHECKS)
