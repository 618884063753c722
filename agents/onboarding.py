"""Onboarding: the files a new agent's sidecar needs (PROTOCOL.md §6.7).

`config.json` with its token, the command that starts the sidecar and a systemd unit,
written by `manage.py onboard_agent` and by the demo. The agent itself is created by
the agent service (agents/services.py).
"""

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from django.conf import settings

# PROTOCOL.md §6.4: what the sidecar runs when no other wake command is configured.
DEFAULT_WAKE_COMMAND = 'openclaw agent --message "Task: ${TASK_JSON}" --session-id ${TASK_ID}'
REPO_ROOT = Path(__file__).resolve().parent.parent


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


def unit_file_name(agent_id: str) -> str:
    return f"agentcom-sidecar-{agent_id}.service"


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
