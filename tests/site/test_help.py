"""Every command a newcomer meets answers --help: what it is for, and its defaults."""

import subprocess
import sys

import pytest

from tests.e2e.harness import ROOT


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*args], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )


def help_of(*args: str) -> str:
    result = run(*args, "--help")
    assert result.returncode == 0, result.stderr
    return " ".join(result.stdout.split())  # argparse wraps lines where it likes


def test_runhub_says_what_it_runs_and_its_defaults():
    text = help_of(sys.executable, "manage.py", "runhub")
    assert "Run the AgentCom hub" in text
    assert "--host HOST address to listen on" in text and "(default: 127.0.0.1)" in text
    assert "--port PORT port to listen on (default: 8000)" in text
    assert "--demo" in text and "wiped on each start" in text


def test_onboard_agent_shows_its_defaults_and_the_wake_template():
    text = help_of(sys.executable, "manage.py", "onboard_agent")
    assert "Onboard an agent" in text
    assert "(default: ws://localhost:8000/ws)" in text
    assert "(default: 120.0)" in text
    assert "(default: ~/.agentcom/AGENT_ID)" in text
    for variable in ("${TASK_ID}", "${TASK_DESCRIPTION}", "${TASK_JSON}", "${TASK_FILE}"):
        assert variable in text
    assert "openclaw agent --message" in text  # the default template
    assert "-m sidecar.fake_agent" in text


def test_operator_token_help_says_how_to_capture_it():
    text = help_of(sys.executable, "manage.py", "create_operator_token")
    assert "TOKEN=$(manage.py create_operator_token ops)" in text


def test_sidecar_help_lists_every_command_and_its_options():
    text = help_of(sys.executable, "-m", "sidecar")
    for command in ("run", "report", "started"):
        assert f"python -m sidecar {command} [-h] [--config CONFIG]" in text
    assert "(default: ./config.json)" in text
    assert "--status {success,failed}" in text and "--progress VALUE" in text
    assert "PYTHONPATH" in text and "sidecar/requirements.txt" in text


@pytest.mark.parametrize("command", ["run", "report", "started"])
def test_each_sidecar_command_has_its_own_help(command):
    text = help_of(sys.executable, "-m", "sidecar", command)
    assert f"usage: python -m sidecar {command}" in text


def test_fake_agent_help_says_it_belongs_in_wake_command():
    text = help_of(sys.executable, "-m", "sidecar.fake_agent")
    assert "meant to be a sidecar's wake_command" in text
    assert "(default: 0.2, or $FAKE_AGENT_DELAY_S)" in text
    assert "(default: success)" in text


def test_fake_agent_alone_says_where_it_belongs():
    result = run(sys.executable, "-m", "sidecar.fake_agent", "--delay", "2")
    assert result.returncode == 2
    assert "wake_command" in result.stderr


def test_git_wrapper_help_is_text_not_a_json_error():
    result = run(sys.executable, "-m", "sidecar.git", "--help")
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("usage: python -m sidecar.git")
    for command in ("start-task", "submit", "status"):
        assert command in result.stdout
    assert "(default: $AGENTCOM_SIDECAR_CONFIG" in " ".join(result.stdout.split())


def test_git_wrapper_still_answers_json_to_anything_else():
    result = run(sys.executable, "-m", "sidecar.git", "nonsense")
    assert result.returncode == 1
    assert '"error": "unknown_command"' in result.stdout


def test_dev_help_lists_its_commands():
    result = run(sys.executable, "dev.py", "--help")
    assert result.returncode == 0, result.stderr
    assert "python3 dev.py hub" in result.stdout and "python3 dev.py test" in result.stdout


def test_dev_test_help_is_its_own_once():
    result = run(sys.executable, "dev.py", "test", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("usage: python3 dev.py test") == 1
    assert "pytest" in result.stdout and "CI=true" in result.stdout
    assert "[dev] test suite" not in result.stdout  # pytest did not run


def test_dev_without_a_known_command_is_a_usage_error():
    result = run(sys.executable, "dev.py", "bogus")
    assert result.returncode == 2
    assert "unknown command 'bogus'" in result.stderr
