"""A bearer token is resolved in one statement, whichever kind it is."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agentcom_site.core.auth import AGENT, OPERATOR, authenticate
from agentcom_site.core.clock import now
from agents import tokens
from agents.models import AgentToken, OperatorToken

pytestmark = pytest.mark.django_db


def lookups(token: str):
    with CaptureQueriesContext(connection) as queries:
        principal = authenticate(token)
    return principal, len(queries)


def test_an_agent_token_is_one_statement_and_carries_the_agent_row(make_agent):
    agent = make_agent("alpha", capabilities=["python"], online=True)
    row, token = tokens.issue_agent_token(agent)
    AgentToken.objects.filter(pk=row.pk).update(last_used_at=now())

    principal, statements = lookups(token)

    assert (principal.kind, principal.name, statements) == (AGENT, "alpha", 1)
    assert principal.agent.pk == agent.pk
    assert principal.agent.capabilities == ["python"]
    assert principal.agent.channel_name == agent.channel_name
    assert principal.agent.connected_at == agent.connected_at


def test_an_operator_token_is_one_statement():
    row, token = tokens.issue_operator_token("ops")
    OperatorToken.objects.filter(pk=row.pk).update(last_used_at=now())

    principal, statements = lookups(token)

    assert (principal.kind, principal.name, principal.agent, statements) == (
        OPERATOR,
        "ops",
        None,
        1,
    )


def test_revoked_and_unknown_tokens_are_nobody(make_agent):
    _, agent_token = tokens.issue_agent_token(make_agent("alpha"))
    operator_row, operator_token = tokens.issue_operator_token("ops")
    tokens.revoke_agent_tokens("alpha")
    OperatorToken.objects.filter(pk=operator_row.pk).update(revoked_at=now())

    assert authenticate(agent_token) is None
    assert authenticate(operator_token) is None
    assert authenticate("0" * 64) is None


def test_last_used_is_refreshed_at_most_once_a_minute(make_agent):
    row, token = tokens.issue_agent_token(make_agent("alpha"))
    long_ago = now() - timedelta(hours=1)
    AgentToken.objects.filter(pk=row.pk).update(last_used_at=long_ago)

    authenticate(token)
    refreshed = AgentToken.objects.get(pk=row.pk).last_used_at
    _, statements = lookups(token)

    assert refreshed > long_ago
    assert statements == 1  # fresh now: no write
