"""config.json loading: defaults, path resolution, and exit status 2 naming the bad field."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import MappingProxyType

import pytest

from agents import onboarding
from sidecar import config as sidecar_config_module
from sidecar.config import DEFAULTS, NEW_CONFIG_KEYS, ConfigError, load_config
from tests.sidecar.harness import PYTHON, REPO_ROOT, TOKEN, sidecar_env

VALID = {
    "agent_id": "gcu-sleeper",
    "token": TOKEN,
    "hub_url": "ws://127.0.0.1:8000/ws",
    "wake_command": "wake-agent",
}


def write_config(directory: Path, content: object) -> Path:
    path = directory / "config.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_defaults_follow_the_protocol(tmp_path):
    config = load_config(write_config(tmp_path, VALID))

    assert config.results_dir == tmp_path / "results"
    assert config.log_file == tmp_path / "sidecar.log"
    assert config.queue_path == tmp_path / "queue.json"
    assert config.confirmation_timeout_ms == 30000
    assert config.progress_interval_ms == 60000
    assert config.alive_window_ms == 300000
    assert config.capabilities == []
    assert config.self_wake is False
    assert config.repo_dir is None
    assert (config.ping_interval_ms, config.pong_timeout_ms) == (30000, 10000)
    assert (config.reconnect_base_ms, config.reconnect_max_ms) == (1000, 60000)
    assert config.wake_retry_delays_ms == (5000, 15000, 30000)
    assert (config.wake_timeout_ms, config.auth_retry_ms) == (60000, 60000)


def test_a_default_changed_in_the_table_reaches_the_loader_and_onboarding(tmp_path, monkeypatch):
    changed = {**DEFAULTS, "confirmation_timeout_ms": 12_345, "progress_interval_ms": 6_789}
    monkeypatch.setattr(sidecar_config_module, "DEFAULTS", MappingProxyType(changed))

    written = onboarding.sidecar_config(agent_id="a", token=TOKEN, hub_url="ws://h/ws")
    loaded = load_config(write_config(tmp_path, VALID))

    assert written["confirmation_timeout_ms"] == loaded.confirmation_timeout_ms == 12_345
    assert written["progress_interval_ms"] == loaded.progress_interval_ms == 6_789


def test_onboarding_spells_out_the_defaults_the_sidecar_would_use(tmp_path):
    bare = {"agent_id": "a", "token": TOKEN, "hub_url": "ws://h/ws"}
    written = onboarding.sidecar_config(**bare)
    bare["wake_command"] = written["wake_command"]

    from_onboarding = load_config(write_config(tmp_path, written))
    from_defaults = load_config(write_config(tmp_path, bare))

    assert list(written)[3:] == list(NEW_CONFIG_KEYS)
    overridden = {"capabilities", "wake_command", "hub_api_url", "alive_window_ms"}
    for key in set(NEW_CONFIG_KEYS) - overridden:
        assert getattr(from_onboarding, key) == getattr(from_defaults, key), key


def test_onboarding_sets_the_alive_window_to_the_hubs_stuck_window(settings):
    settings.AGENTCOM_STUCK_AFTER_S = 42.5

    written = onboarding.sidecar_config(agent_id="a", token=TOKEN, hub_url="ws://h/ws")

    assert written["alive_window_ms"] == 42_500


def test_relative_paths_resolve_against_the_config_directory(tmp_path):
    nested = tmp_path / "agent"
    (nested / "logs").mkdir(parents=True)
    (nested / "repo").mkdir()
    config = load_config(
        write_config(
            nested, {**VALID, "results_dir": "out", "log_file": "logs/s.log", "repo_dir": "repo"}
        )
    )

    assert config.results_dir == nested / "out"
    assert config.log_file == nested / "logs" / "s.log"
    assert config.repo_dir == nested / "repo"


def test_progress_interval_zero_means_off(tmp_path):
    config = load_config(write_config(tmp_path, {**VALID, "progress_interval_ms": 0}))

    assert config.progress_interval_ms == 0


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"token": TOKEN, "hub_url": "ws://h/ws"}, "agent_id"),
        ({"agent_id": "a", "hub_url": "ws://h/ws"}, "token"),
        ({"agent_id": "a", "token": TOKEN}, "hub_url"),
        ({**VALID, "hub_url": "http://h/ws"}, "hub_url"),
        ({**VALID, "agent_id": 7}, "agent_id"),
        ({**VALID, "capabilities": "code"}, "capabilities"),
        ({**VALID, "confirmation_timeout_ms": "soon"}, "confirmation_timeout_ms"),
        ({**VALID, "wake_retry_delays_ms": [1, -1]}, "wake_retry_delays_ms"),
        ({**VALID, "wake_command": None}, "wake_command"),
        ({**VALID, "wake_command": ""}, "wake_command"),
        ({**VALID, "self_wake": True}, "self_wake"),
        ({**VALID, "wake_command": None, "self_wake": "yes"}, "self_wake"),
        ({**VALID, "repo_dir": "no/such/repo"}, "repo_dir"),
        ({**VALID, "repo_dir": "config.json"}, "repo_dir"),
        ({**VALID, "results_dir": "no/such/results"}, "results_dir"),
        ({**VALID, "results_dir": "config.json"}, "results_dir"),
        ({**VALID, "log_file": "no/such/sidecar.log"}, "log_file"),
        ({**VALID, "log_file": "."}, "log_file"),
        ("{not json", "config"),
        ("[]", "config"),
    ],
)
def test_invalid_config_names_the_field(tmp_path, content, field):
    with pytest.raises(ConfigError) as error:
        load_config(write_config(tmp_path, content))

    assert error.value.field == field


def run_sidecar(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "sidecar", *args],
        cwd=cwd,
        env=sidecar_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_missing_key_exits_2_naming_it(tmp_path):
    path = write_config(tmp_path, {"agent_id": "a", "hub_url": "ws://h/ws"})

    done = run_sidecar("--config", str(path), cwd=REPO_ROOT)

    assert done.returncode == 2
    assert "token" in done.stderr


def test_missing_repo_dir_exits_2_naming_it(tmp_path):
    path = write_config(tmp_path, {**VALID, "repo_dir": "repo"})

    done = run_sidecar("--config", str(path), cwd=REPO_ROOT)

    assert done.returncode == 2
    assert f"config error: repo_dir: {tmp_path / 'repo'} does not exist" in done.stderr


def test_a_self_waking_agent_needs_no_wake_command(tmp_path):
    config = load_config(write_config(tmp_path, {**VALID, "wake_command": None, "self_wake": True}))

    assert config.self_wake is True
    assert config.wake_command is None


def test_missing_file_exits_2(tmp_path):
    done = run_sidecar("run", "--config", str(tmp_path / "nope.json"), cwd=REPO_ROOT)

    assert done.returncode == 2
    assert "not found" in done.stderr


def test_without_option_reads_config_json_in_the_working_directory(tmp_path):
    write_config(tmp_path, "{broken")

    done = run_sidecar(cwd=tmp_path)

    assert done.returncode == 2
    assert "invalid JSON" in done.stderr
