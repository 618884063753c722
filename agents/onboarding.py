"""Onboarding: register an agent, write its sidecar's `config.json` (PROTOCOL.md §4.4, §6.7).

Shared by `POST /api/onboard/register` (self-registration with the join key) and the
operator-side `manage.py onboard_agent` command.
"""

import hmac
import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from ninja import Router, Status

from agentcom_site.errors import conflict, forbidden, invalid
from agentcom_site.validation import Capability, Strict, text, unique, validate
from agents.models import Agent
from agents.tokens import issue_agent_token

# PROTOCOL.md §6.4: what the sidecar runs when no other wake command is configured.
DEFAULT_WAKE_COMMAND = 'openclaw agent --message "Task: ${TASK_JSON}" --session-id ${TASK_ID}'
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Registration:
    agent: Agent
    token: str
    created: bool


def check_agent_id(agent_id: str) -> None:
    if not 0 < len(agent_id) <= 128:
        raise invalid("agent_id", "invalid_value", "agent_id must be 1-128 characters")
    if agent_id.startswith("operator:"):
        raise invalid("agent_id", "invalid_value", "agent ids may not start with operator:")


def register_agent(
    agent_id: str,
    *,
    capabilities: list[str] | None = None,
    name: str = "",
    allow_existing: bool = False,
) -> Registration:
    """Create the agent and issue its first token (the clear token is returned once).

    An existing agent is a 409 `agent_id already registered` unless `allow_existing`,
    in which case it gets one more token (older ones stay valid) and the capabilities
    given, if any. Committed before returning.
    """
    check_agent_id(agent_id)
    with transaction.atomic():
        agent = Agent.objects.select_for_update().filter(agent_id=agent_id).first()
        created = agent is None
        if agent is not None and not allow_existing:
            raise conflict("agent_id already registered", f"agent {agent_id} is already registered")
        if agent is None:
            try:
                with transaction.atomic():
                    agent = Agent.objects.create(
                        agent_id=agent_id, name=name or agent_id, capabilities=capabilities or []
                    )
            except IntegrityError:  # registered by a concurrent request meanwhile
                raise conflict(
                    "agent_id already registered", f"agent {agent_id} is already registered"
                ) from None
        elif capabilities:
            agent.capabilities = capabilities
            agent.save(update_fields=["capabilities"])
        _, token = issue_agent_token(agent)
    return Registration(agent, token, created)


# --- the sidecar's files -----------------------------------------------------------------


def api_url_for(hub_url: str) -> str:
    """`ws://host:port/ws` -> `http://host:port` (the base of the hub's HTTP API)."""
    scheme, _, rest = hub_url.partition("://")
    host = rest.split("/", 1)[0]
    return f"{'https' if scheme == 'wss' else 'http'}://{host}"


def sidecar_config(
    *,
    agent_id: str,
    token: str,
    hub_url: str,
    hub_api_url: str | None = None,
    capabilities: list[str] | None = None,
    wake_command: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A `config.json` for the sidecar with every §6.1 key set to its default.

    The defaults are the sidecar's own table (`sidecar.config.DEFAULTS`), so the file
    written here and the sidecar reading it never disagree.
    """
    from sidecar.config import DEFAULTS, NEW_CONFIG_KEYS

    config: dict[str, Any] = {"agent_id": agent_id, "token": token, "hub_url": hub_url}
    config.update({key: DEFAULTS[key] for key in NEW_CONFIG_KEYS})
    config.update(
        capabilities=list(capabilities or []),
        wake_command=wake_command or DEFAULT_WAKE_COMMAND,
        hub_api_url=hub_api_url or api_url_for(hub_url),
        # The sidecar keeps a task alive only while its agent showed a sign of life within
        # this window; it is this hub's stuck window, after which the task is reclaimed.
        alive_window_ms=round(settings.AGENTCOM_STUCK_AFTER_S * 1000),
    )
    config.update(extra)
    return config


def write_config(directory: Path, config: dict[str, Any]) -> Path:
    """Write `config.json` readable by its owner only (it holds the token)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    temporary = directory / ".config.json.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2)
        handle.write("\n")
    os.chmod(temporary, 0o600)  # O_CREAT's mode does not apply to a file left from before
    os.replace(temporary, path)
    return path


def sidecar_command(config_path: Path) -> str:
    """The shell command that starts the sidecar, every value quoted for /bin/sh."""
    command = shlex.join([sys.executable, "-m", "sidecar", "--config", str(config_path)])
    return f"PYTHONPATH={shlex.quote(str(REPO_ROOT))} {command}"


def _unit_text(value: str) -> str:
    """value for a systemd setting: specifiers (%) escaped; a line break would end the setting."""
    if "\n" in value or "\r" in value:
        raise ValueError("a systemd unit value cannot contain a line break")
    return value.replace("%", "%%")


def _unit_word(value: str, *, expands_variables: bool) -> str:
    """value as one double-quoted word, never split, and never expanded where $ would be."""
    quoted = _unit_text(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted.replace("$", "$$") if expands_variables else quoted}"'


def systemd_unit(agent_id: str, config_path: Path) -> str:
    command = [sys.executable, "-m", "sidecar", "--config", str(config_path)]
    return "\n".join(
        [
            "[Unit]",
            f"Description=AgentCom sidecar for {_unit_text(agent_id)}",
            "After=network-online.target",
            "Wants=network-online.target",
            "",
            "[Service]",
            f"WorkingDirectory={_unit_text(str(config_path.parent))}",
            f"Environment={_unit_word(f'PYTHONPATH={REPO_ROOT}', expands_variables=False)}",
            f"ExecStart={' '.join(_unit_word(w, expands_variables=True) for w in command)}",
            "Restart=always",
            "RestartSec=5",
            "",
            "[Install]",
            "WantedBy=default.target",
            "",
        ]
    )


# --- POST /api/onboard/register --------------------------------------------------------

router = Router(tags=["onboarding"])


class RegisterIn(Strict):
    agent_id: text("agent_id", min_length=1)  # type: ignore[valid-type]
    join_key: text("token") | None = None  # type: ignore[valid-type]
    capabilities: list[Capability] | None = None


def check_join_key(offered: Any) -> None:
    expected = settings.AGENTCOM_JOIN_KEY
    if not expected:
        raise forbidden("self-registration is closed on this hub", code="registration_closed")
    # compare_digest takes the same time wherever the keys differ.
    if not isinstance(offered, str) or not hmac.compare_digest(offered.encode(), expected.encode()):
        raise forbidden("the join key is not valid", code="invalid_join_key")


def _default_repo() -> str | None:
    try:
        from messaging.config import default_repo
    except ImportError:  # the live config store is not part of this hub build
        return None
    return default_repo()


@router.post("/register", auth=None, response={201: dict}, summary="Register with the join key")
def register(request: HttpRequest):
    body = getattr(request, "parsed_json", None)
    offered = request.headers.get("X-Join-Key")
    if offered is None and isinstance(body, dict):
        offered = body.get("join_key")
    check_join_key(offered)  # before looking at the body: strangers learn nothing more
    data = validate(RegisterIn, body if body is not None else {})
    registration = register_agent(data.agent_id, capabilities=unique(data.capabilities or []))
    scheme = "wss" if request.is_secure() else "ws"
    host = request.get_host()
    return Status(
        201,
        {
            "agent_id": registration.agent.agent_id,
            "token": registration.token,
            "hub_ws_url": f"{scheme}://{host}/ws",
            "hub_api_url": f"{request.scheme}://{host}",
            "default_repo": _default_repo(),
        },
    )
