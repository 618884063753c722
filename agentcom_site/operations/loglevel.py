"""The log level, changed by an operator at run time (`PUT /api/admin/log-level`).

The level is stored in the live config store (messaging/config.py), so it outlives a
restart and reaches every process: the one that answers the request applies it at
once, every other hub process and worker picks it up within
`AGENTCOM_LOG_LEVEL_CHECK_S` (agentcom_site/background.py). `null` goes back to
`AGENTCOM_LOG_LEVEL`.
"""

import logging
from typing import Annotated, Literal

from django.conf import settings
from django.http import HttpRequest
from ninja import Router
from pydantic import BeforeValidator

from agentcom_site.core import logs
from agentcom_site.core.auth import operator_auth, require_operator
from agentcom_site.core.schemas import BODY_GUARD, Out, refusals
from agentcom_site.core.validation import Strict
from messaging import config

log = logging.getLogger(__name__)
router = Router(tags=["operations"])

Level = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class LogLevelIn(Strict):
    level: Annotated[Level, BeforeValidator(_upper)] | None


class LogLevelOut(Out):
    level: str
    stored: str | None
    default: str
    check_interval_s: float


def stored_level() -> str | None:
    value = config.get(config.LOG_LEVEL)
    return value if value in logs.LEVELS else None


def wanted_level() -> str:
    return stored_level() or settings.AGENTCOM_LOG_LEVEL


def apply_stored_level() -> None:
    """Bring this process's level in line with the stored one (called every few seconds)."""
    level = wanted_level()
    if logs.set_level(level):
        log.warning("log level is now %s", level)


def _answer() -> dict:
    return {
        "level": logs.current_level(),
        "stored": stored_level(),
        "default": settings.AGENTCOM_LOG_LEVEL,
        "check_interval_s": float(settings.AGENTCOM_LOG_LEVEL_CHECK_S),
    }


@router.get(
    "/log-level",
    auth=operator_auth,
    response={200: LogLevelOut, **refusals(401, 403)},
    summary="The log level in force",
)
def get_log_level(request: HttpRequest):
    return _answer()


@router.put(
    "/log-level",
    auth=operator_auth,
    response={200: LogLevelOut, **refusals(*BODY_GUARD, 401, 403, 422)},
    summary="Set the log level of every hub process (null: back to AGENTCOM_LOG_LEVEL)",
)
def put_log_level(request: HttpRequest, body: LogLevelIn):
    principal = require_operator(request)
    config.put(config.LOG_LEVEL, body.level, actor=principal.actor)
    apply_stored_level()
    return _answer()
