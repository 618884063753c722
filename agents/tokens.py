"""Issuing, checking and revoking credentials. Clear tokens are returned once, never stored."""

from datetime import timedelta
from functools import lru_cache

from django.db import connection, transaction

from agentcom_site.core import rows
from agentcom_site.core.auth import AGENT, OPERATOR, Principal
from agentcom_site.core.clock import now
from agentcom_site.core.events import EventKind, announce
from agents.models import Agent, AgentToken, OperatorToken, hash_token, new_token


@transaction.atomic
def issue_agent_token(agent: Agent) -> tuple[AgentToken, str]:
    """Create a token for `agent`; older tokens stay valid. Returns (row, clear token)."""
    token = new_token()
    row = AgentToken(agent=agent)
    row.set_token(token)
    row.save()
    return row, token


@transaction.atomic
def issue_operator_token(name: str) -> tuple[OperatorToken, str]:
    token = new_token()
    row = OperatorToken(name=name)
    row.set_token(token)
    row.save()
    return row, token


def revoke_agent_tokens(agent_id: str) -> int:
    """Revoke every live token of the agent; after commit its open socket is closed with 4003.

    The agent row is locked first, as identify locks it to bind a socket (presence.py):
    either the bind commits first and its socket is the one closed here, or the revoke
    commits first and the bind, checking its token under the same lock, is refused.
    """
    with transaction.atomic():
        agent = Agent.objects.select_for_update().filter(agent_id=agent_id).first()
        if agent is None:
            return 0
        revoked = AgentToken.objects.live().filter(agent=agent).update(revoked_at=now())
        if revoked and agent.channel_name:
            announce(EventKind.TOKENS_REVOKED, agent_id=agent_id, channel_name=agent.channel_name)
    return revoked


def token_is_live(token_pk: int) -> bool:
    return AgentToken.objects.live().filter(pk=token_pk).exists()


# `last_used_at` is for operators, not for security: refreshing it at most once a
# minute keeps every authenticated request from being a database write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def _note_use(row: AgentToken | OperatorToken) -> None:
    moment = now()
    if row.last_used_at is None or moment - row.last_used_at > LAST_USED_RESOLUTION:
        type(row).objects.filter(pk=row.pk).update(last_used_at=moment)


def agent_token(token: str) -> AgentToken | None:
    """The live agent token row (with its agent) for a clear token, or None."""
    row = AgentToken.objects.matching(token).select_related("agent").first()
    if row is not None:
        _note_use(row)
    return row


def agent_for_token(token: str) -> tuple[Agent | None, str | None]:
    """Resolve an agent token; (None, reason) when it is unknown or revoked."""
    row = agent_token(token)
    if row is None:
        return None, "invalid_token"
    return row.agent, None


@lru_cache(maxsize=4)
def _lookup_sql(vendor: str) -> str:
    """Both token tables in one statement, each probed by its unique hash index: a live
    agent token with its agent's row, or a live operator token with its name (padded
    with NULLs to the agent's columns). Fixed SQL: every HTTP request asks."""
    quote = connection.ops.quote_name
    agent_tokens = quote(AgentToken._meta.db_table)
    operator_tokens = quote(OperatorToken._meta.db_table)
    agents = quote(Agent._meta.db_table)
    padding = ", ".join(["NULL"] * len(Agent._meta.concrete_fields))
    return (
        "SELECT 'agent', t.id, (t.last_used_at IS NULL OR t.last_used_at < %s), NULL, "
        f"{rows.columns_of(Agent, 'a')} FROM {agent_tokens} t JOIN {agents} a "
        "ON a.id = t.agent_id WHERE t.token_hash = %s AND t.revoked_at IS NULL "
        "UNION ALL SELECT 'operator', o.id, (o.last_used_at IS NULL OR o.last_used_at < %s), "
        f"o.name, {padding} FROM {operator_tokens} o "
        "WHERE o.token_hash = %s AND o.revoked_at IS NULL"
    )


def authenticate(token: str) -> Principal | None:
    """An agent or operator principal for a Bearer token, or None (the kernel's authenticator).

    One statement whichever kind the token is (`_lookup_sql`); `last_used_at` is
    refreshed at most once a minute, as for `agent_token`."""
    hashed = hash_token(token)
    stale = connection.ops.adapt_datetimefield_value(now() - LAST_USED_RESOLUTION)
    found = rows.fetch_one(_lookup_sql(connection.vendor), [stale, hashed, stale, hashed])
    if found is None:
        return None
    kind, token_pk, refresh, name, *agent_row = found
    model = AgentToken if kind == AGENT else OperatorToken
    if refresh:
        model.objects.filter(pk=token_pk).update(last_used_at=now())
    if kind == AGENT:
        agent = rows.from_row(Agent, agent_row)
        return Principal(AGENT, agent.agent_id, agent)
    return Principal(OPERATOR, name)
