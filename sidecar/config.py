"""Loading and validating the sidecar's config.json (PROTOCOL.md §6.1).

The same file is read by the Node.js sidecar, so defaults follow its rules: a
missing, null or empty value means "use the default". Keys the protocol does not
name (the timer overrides in DEFAULTS) exist so tests and unusual deployments can
shorten the protocol's timers; their defaults are the protocol values.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

DEFAULT_CONFIG_NAME = "config.json"
# What a mistyped shell-executor placeholder looks like: "{task_flie}".
UNKNOWN_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
QUEUE_FILE_NAME = "queue.json"


class ConfigError(Exception):
    """A config problem, naming the offending field (or the file itself)."""

    def __init__(self, field_name: str, detail: str) -> None:
        super().__init__(f"{field_name}: {detail}")
        self.field = field_name
        self.detail = detail


# Every key's default, written once. load_config applies them; the hub's onboarding
# (agents.onboarding.sidecar_config) writes them into a new agent's config.json.
# Following the Node sidecar, a missing, null or empty value means "use the default".
DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        # PROTOCOL.md §6.1
        "capabilities": (),
        "wake_command": None,
        # An agent that picks up its task by itself must say so: without a wake_command
        # and without this, no agent would ever learn of a task.
        "self_wake": False,
        "confirmation_timeout_ms": 30_000,
        "results_dir": "./results",
        "log_file": "./sidecar.log",
        "repo_dir": "",
        "reviewer": "",
        "hub_api_url": "",
        "progress_interval_ms": 60_000,
        # The keepalive is sent only while the agent showed a sign of life this recently;
        # the default is the hub's default stuck window (AGENTCOM_STUCK_AFTER_S).
        "alive_window_ms": 300_000,
        "cancel_command": None,
        # How long an agent session's ask_operator call waits for the answer (PROTOCOL §6.8).
        "ask_operator_timeout_ms": 1_800_000,
        # An executor runs the agent instead of a wake_command (sidecar/executors).
        "executor": None,
        "executor_path": "",  # the executor's program; default its name, looked up on PATH
        "executor_args": (),  # extra arguments for the claude/codex CLI (model, permissions)
        "executor_command": (),  # the shell executor's argv, with placeholders
        "executor_progress_ms": 2_000,  # at most one task_progress per this from a stream
        # Timers the protocol fixes; adjustable so tests and unusual deployments can
        # shorten them. The defaults are the protocol's values.
        "ping_interval_ms": 30_000,
        "pong_timeout_ms": 10_000,
        "reconnect_base_ms": 1_000,
        "reconnect_max_ms": 60_000,
        "auth_retry_ms": 60_000,
        "wake_retry_delays_ms": (5_000, 15_000, 30_000),
        "wake_timeout_ms": 60_000,
        "cancel_timeout_ms": 60_000,
        "git_timeout_ms": 180_000,
        "results_poll_ms": 150,
        "result_stable_ms": 500,
        # resource_report (PROTOCOL.md §2.3): first this long after connecting, then every.
        "resource_report_delay_ms": 5_000,
        "resource_report_interval_ms": 30_000,
    }
)

# The keys a new config.json spells out with their defaults (PROTOCOL.md §6.7 onboarding),
# in the order it writes them.
NEW_CONFIG_KEYS = (
    "capabilities",
    "wake_command",
    "confirmation_timeout_ms",
    "results_dir",
    "log_file",
    "repo_dir",
    "reviewer",
    "hub_api_url",
    "progress_interval_ms",
    "alive_window_ms",
)


@dataclass(frozen=True)
class SidecarConfig:
    """Validated settings; every path is absolute. Built by load_config, which applies DEFAULTS."""

    config_path: Path
    agent_id: str
    token: str
    hub_url: str
    capabilities: list[Any]
    wake_command: str | None
    self_wake: bool
    cancel_command: str | None
    executor: str | None
    executor_path: str
    executor_args: tuple[str, ...]
    executor_command: tuple[str, ...]
    executor_progress_ms: int
    confirmation_timeout_ms: int
    progress_interval_ms: int
    alive_window_ms: int
    ask_operator_timeout_ms: int
    results_dir: Path
    log_file: Path
    repo_dir: Path | None
    reviewer: str
    hub_api_url: str
    ping_interval_ms: int
    pong_timeout_ms: int
    reconnect_base_ms: int
    reconnect_max_ms: int
    auth_retry_ms: int
    wake_retry_delays_ms: tuple[int, ...]
    wake_timeout_ms: int
    cancel_timeout_ms: int
    git_timeout_ms: int
    results_poll_ms: int
    result_stable_ms: int
    resource_report_delay_ms: int
    resource_report_interval_ms: int

    @property
    def sidecar_dir(self) -> Path:
        """The directory holding config.json: queue.json, task files and wakes live here."""
        return self.config_path.parent

    @property
    def queue_path(self) -> Path:
        return self.sidecar_dir / QUEUE_FILE_NAME

    @property
    def tasks_dir(self) -> Path:
        return self.sidecar_dir / "tasks"


def read_config_file(path: str | os.PathLike[str] | None) -> tuple[Path, dict[str, Any]]:
    """Return (absolute path, parsed object); raise ConfigError if unreadable or not an object."""
    config_path = Path(path or DEFAULT_CONFIG_NAME).expanduser().absolute()
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError("config", f"file not found: {config_path}") from exc
    except OSError as exc:
        raise ConfigError("config", f"cannot read {config_path}: {exc.strerror}") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError("config", f"invalid JSON in {config_path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError("config", f"{config_path} must hold a JSON object")
    return config_path, raw


def resolve_path(base: Path, value: str) -> Path:
    """Resolve a config path the way the Node sidecar does: relative to the config's directory."""
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else base / candidate


def results_dir_from(config_path: Path, raw: dict[str, Any]) -> Path:
    """The results directory named by a parsed config (default ./results)."""
    value = _optional_str(raw, "results_dir") or DEFAULTS["results_dir"]
    return resolve_path(config_path.parent, value)


def load_config(path: str | os.PathLike[str] | None = None) -> SidecarConfig:
    """Read and validate config.json; raise ConfigError naming the first bad field.

    Paths are checked too, so a sidecar never starts unable to work: repo_dir must be
    a directory, results_dir (created at start) must have an existing parent, and
    log_file an existing directory.
    """
    config_path, raw = read_config_file(path)
    base = config_path.parent

    hub_url = _required_str(raw, "hub_url")
    if not hub_url.startswith(("ws://", "wss://")):
        raise ConfigError("hub_url", "must be a ws:// or wss:// URL")

    repo_dir = _optional_str(raw, "repo_dir")
    config = SidecarConfig(
        config_path=config_path,
        agent_id=_required_str(raw, "agent_id"),
        token=_required_str(raw, "token"),
        hub_url=hub_url,
        capabilities=_capabilities(raw),
        wake_command=_optional_str(raw, "wake_command") or DEFAULTS["wake_command"],
        self_wake=_bool(raw, "self_wake"),
        cancel_command=_optional_str(raw, "cancel_command") or DEFAULTS["cancel_command"],
        executor=_optional_str(raw, "executor") or DEFAULTS["executor"],
        executor_path=_program(base, _optional_str(raw, "executor_path")),
        executor_args=_str_list(raw, "executor_args"),
        executor_command=_str_list(raw, "executor_command"),
        executor_progress_ms=_ms(raw, "executor_progress_ms"),
        # Node treats 0 as "unset" here; keep the same meaning for a shared file.
        confirmation_timeout_ms=_ms(raw, "confirmation_timeout_ms", zero_means_default=True),
        progress_interval_ms=_ms(raw, "progress_interval_ms"),
        alive_window_ms=_ms(raw, "alive_window_ms", zero_means_default=True),
        ask_operator_timeout_ms=_ms(raw, "ask_operator_timeout_ms", zero_means_default=True),
        results_dir=results_dir_from(config_path, raw),
        log_file=resolve_path(base, _optional_str(raw, "log_file") or DEFAULTS["log_file"]),
        repo_dir=resolve_path(base, repo_dir) if repo_dir else None,
        reviewer=_optional_str(raw, "reviewer") or DEFAULTS["reviewer"],
        hub_api_url=_optional_str(raw, "hub_api_url") or DEFAULTS["hub_api_url"],
        ping_interval_ms=_ms(raw, "ping_interval_ms", zero_means_default=True),
        pong_timeout_ms=_ms(raw, "pong_timeout_ms", zero_means_default=True),
        reconnect_base_ms=_ms(raw, "reconnect_base_ms", zero_means_default=True),
        reconnect_max_ms=_ms(raw, "reconnect_max_ms", zero_means_default=True),
        auth_retry_ms=_ms(raw, "auth_retry_ms"),
        wake_retry_delays_ms=_ms_list(raw, "wake_retry_delays_ms"),
        wake_timeout_ms=_ms(raw, "wake_timeout_ms", zero_means_default=True),
        cancel_timeout_ms=_ms(raw, "cancel_timeout_ms", zero_means_default=True),
        git_timeout_ms=_ms(raw, "git_timeout_ms", zero_means_default=True),
        results_poll_ms=_ms(raw, "results_poll_ms", zero_means_default=True),
        result_stable_ms=_ms(raw, "result_stable_ms"),
        resource_report_delay_ms=_ms(raw, "resource_report_delay_ms"),
        resource_report_interval_ms=_ms(
            raw, "resource_report_interval_ms", zero_means_default=True
        ),
    )
    _check_wake(config)
    _check_paths(config)
    return config


def _check_wake(config: SidecarConfig) -> None:
    """Exactly one way of reaching the agent: wake_command, executor or self_wake."""
    if config.executor is not None:
        _check_executor(config)
        return
    if config.wake_command is None and not config.self_wake:
        raise ConfigError(
            "wake_command",
            "required: without it (or an executor) no agent is ever woken for a task "
            '(set "self_wake": true if the agent picks up its task by itself)',
        )
    if config.wake_command is not None and config.self_wake:
        raise ConfigError("self_wake", "cannot be combined with wake_command")


def _check_executor(config: SidecarConfig) -> None:
    from sidecar.executors import executor_names
    from sidecar.executors.shell import PLACEHOLDER

    names = executor_names()
    if config.executor not in names:
        raise ConfigError("executor", f"must be one of {', '.join(names)}")
    if config.wake_command is not None:
        raise ConfigError("executor", "cannot be combined with wake_command: name one of them")
    if config.self_wake:
        raise ConfigError("self_wake", "cannot be combined with executor")
    if config.executor == "shell":
        if not config.executor_command or not config.executor_command[0]:
            raise ConfigError("executor_command", 'required with "executor": "shell"')
        for argument in config.executor_command:
            if UNKNOWN_PLACEHOLDER.search(PLACEHOLDER.sub("", argument)):
                raise ConfigError(
                    "executor_command",
                    f"{argument!r} names an unknown placeholder; known: "
                    "{task_file}, {task_id}, {results_dir}, {sidecar_config}, {generation}",
                )


def _check_paths(config: SidecarConfig) -> None:
    if config.repo_dir is not None and not config.repo_dir.is_dir():
        raise ConfigError("repo_dir", _not_a_directory(config.repo_dir))
    results_dir = config.results_dir
    if results_dir.exists() and not results_dir.is_dir():
        raise ConfigError("results_dir", f"{results_dir} is not a directory")
    if not results_dir.parent.is_dir():
        raise ConfigError("results_dir", f"its parent {_not_a_directory(results_dir.parent)}")
    if config.log_file.is_dir():
        raise ConfigError("log_file", f"{config.log_file} is a directory")
    if not config.log_file.parent.is_dir():
        raise ConfigError("log_file", f"its directory {_not_a_directory(config.log_file.parent)}")


def _program(base: Path, value: str) -> str:
    """A program name stays a name (looked up on PATH); a relative path is the config's."""
    if not value or "/" not in value:
        return value or DEFAULTS["executor_path"]
    return str(resolve_path(base, value))


def _not_a_directory(path: Path) -> str:
    return f"{path} {'is not a directory' if path.exists() else 'does not exist'}"


def _required_str(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if value is None or value == "":
        raise ConfigError(key, "required key is missing or empty")
    if not isinstance(value, str):
        raise ConfigError(key, "must be a string")
    return value


def _optional_str(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(key, "must be a string")
    return value


def _bool(raw: dict[str, Any], key: str) -> bool:
    value = raw.get(key)
    if value is None:
        return bool(DEFAULTS[key])
    if not isinstance(value, bool):
        raise ConfigError(key, "must be true or false")
    return value


def _capabilities(raw: dict[str, Any]) -> list[Any]:
    value = raw.get("capabilities")
    if value is None:
        return list(DEFAULTS["capabilities"])
    if not isinstance(value, list):
        raise ConfigError("capabilities", 'must be a list of strings or {"name": ...} objects')
    for index, item in enumerate(value):
        named = isinstance(item, dict) and isinstance(item.get("name"), str)
        if not (isinstance(item, str) or named):
            raise ConfigError(f"capabilities[{index}]", 'must be a string or {"name": ...}')
    return list(value)


def _ms(raw: dict[str, Any], key: str, *, zero_means_default: bool = False) -> int:
    default: int = DEFAULTS[key]
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(key, "must be a number of milliseconds")
    if value < 0:
        raise ConfigError(key, "must not be negative")
    if value == 0 and zero_means_default:
        return default
    return int(value)


def _str_list(raw: dict[str, Any], key: str) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        return tuple(DEFAULTS[key])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(key, "must be a list of strings")
    if len(value) > 100 or any(len(item) > 4096 or "\x00" in item for item in value):
        raise ConfigError(key, "at most 100 strings of at most 4096 characters, no NUL")
    return tuple(value)


def _ms_list(raw: dict[str, Any], key: str) -> tuple[int, ...]:
    default: tuple[int, ...] = DEFAULTS[key]
    value = raw.get(key)
    if value is None:
        return default
    if not isinstance(value, list) or not all(
        isinstance(item, int | float) and not isinstance(item, bool) and item >= 0 for item in value
    ):
        raise ConfigError(key, "must be a list of non-negative milliseconds")
    return tuple(int(item) for item in value)
