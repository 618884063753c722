"""Config and analytics routes (PROTOCOL.md §4.4, §4.7).

Config reads are open to any credential (heartbeat and retention also take `?token=`);
writes are for operators and echo the stored value.
"""

from django.http import HttpRequest
from ninja import Router

from agentcom_site.core.auth import legacy_auth, require_operator
from agentcom_site.core.schemas import BODY_GUARD, refusals
from agentcom_site.core.validation import check_agent_id
from messaging import analytics, config
from messaging.responses import (
    AnalyticsAgentsOut,
    AnalyticsSummaryOut,
    DefaultRepoOut,
    DefaultRepoSetOut,
    HeartbeatOut,
    HeartbeatSetOut,
    HourlyOut,
    RetentionOut,
    RetentionSetOut,
)
from messaging.schemas import DefaultRepoIn, HeartbeatIn, RetentionIn

# Every config PUT is for operators and takes a JSON body.
PUT_REFUSALS = refusals(*BODY_GUARD, 401, 403, 422)

router = Router(tags=["config", "analytics"])


@router.get(
    "/config/default-repo",
    response={200: DefaultRepoOut, **refusals(401)},
    summary="The repository new agents clone",
)
def get_default_repo(request: HttpRequest):
    repo = config.default_repo()
    return {"default_repo": repo, "configured": repo is not None}


@router.put(
    "/config/default-repo",
    response={200: DefaultRepoSetOut, **PUT_REFUSALS},
    summary="Set the default repository",
)
def put_default_repo(request: HttpRequest, body: DefaultRepoIn):
    principal = require_operator(request)
    repo = config.put(config.DEFAULT_REPO, body.url or None, actor=principal.actor)
    return {"status": "ok", "default_repo": repo}


@router.get(
    "/config/heartbeat-interval",
    auth=legacy_auth,
    response={200: HeartbeatOut, **refusals(401)},
    summary="Heartbeat",
)
def get_heartbeat(request: HttpRequest):
    return {"heartbeat_interval_ms": config.heartbeat_interval_ms()}


@router.put(
    "/config/heartbeat-interval",
    response={200: HeartbeatSetOut, **PUT_REFUSALS},
    summary="Set the heartbeat interval",
)
def put_heartbeat(request: HttpRequest, body: HeartbeatIn):
    principal = require_operator(request)
    value = config.put(
        config.HEARTBEAT_INTERVAL_MS, body.heartbeat_interval_ms, actor=principal.actor
    )
    return {"status": "updated", "heartbeat_interval_ms": value}


@router.get(
    "/config/mailbox-retention",
    auth=legacy_auth,
    response={200: RetentionOut, **refusals(401)},
    summary="Mailbox TTL",
)
def get_retention(request: HttpRequest):
    return {"mailbox_ttl_ms": config.mailbox_ttl_ms()}


@router.put(
    "/config/mailbox-retention",
    response={200: RetentionSetOut, **PUT_REFUSALS},
    summary="Set the mailbox TTL",
)
def put_retention(request: HttpRequest, body: RetentionIn):
    principal = require_operator(request)
    value = config.put(config.MAILBOX_TTL_MS, body.mailbox_ttl_ms, actor=principal.actor)
    return {"status": "updated", "mailbox_ttl_ms": value}


@router.get(
    "/analytics/summary",
    response={200: AnalyticsSummaryOut, **refusals(401)},
    summary="Hub-wide activity figures",
)
def summary(request: HttpRequest):
    return analytics.summary()


@router.get(
    "/analytics/agents",
    response={200: AnalyticsAgentsOut, **refusals(401)},
    summary="Activity figures per agent",
)
def agents(request: HttpRequest):
    return {"agents": analytics.agent_figures()}


@router.get(
    "/analytics/agents/{agent_id}/hourly",
    response={200: HourlyOut, **refusals(401, 422)},
    summary="24 hourly buckets",
)
def hourly(request: HttpRequest, agent_id: str):
    check_agent_id(agent_id)
    return {"agent_id": agent_id, "hourly": analytics.hourly(agent_id)}
