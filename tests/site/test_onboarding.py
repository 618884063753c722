"""POST /api/onboard/register and `manage.py onboard_agent` (without --verify)."""

import json
import shlex
import shutil
import stat
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from agents import onboarding
from agents.models import Agent
from agents.tokens import authenticate

pytestmark = pytest.mark.django_db

KEY = "let-me-in-" + "k" * 20


def register(client, body=None, **headers):
    return client.post(
        "/api/onboard/register",
        data=json.dumps(body if body is not None else {}),
        content_type="application/json",
        headers=headers,
    )


def test_closed_without_a_join_key(client):
    with override_settings(AGENTCOM_JOIN_KEY=""):
        response = register(client, {"agent_id": "new-1", "join_key": "anything"})
    assert response.status_code == 403
    assert response.json()["error"] == "registration_closed"
    assert not Agent.objects.exists()


@override_settings(AGENTCOM_JOIN_KEY=KEY)
def test_a_wrong_or_missing_key_is_refused(client):
    assert register(client, {"agent_id": "new-1", "join_key": KEY + "x"}).json()["error"] == (
        "invalid_join_key"
    )
    assert register(client, {"agent_id": "new-1"}).status_code == 403
    assert register(client, {"agent_id": "new-1", "join_key": 5}).status_code == 403
    assert not Agent.objects.exists()


@override_settings(AGENTCOM_JOIN_KEY=KEY)
def test_registration_returns_a_working_token_and_hub_urls(client):
    response = register(client, {"agent_id": "new-1", "join_key": KEY, "capabilities": ["code"]})
    assert response.status_code == 201
    body = response.json()
    assert body["agent_id"] == "new-1"
    assert body["hub_ws_url"] == "ws://testserver/ws"
    assert body["hub_api_url"] == "http://testserver"
    assert "default_repo" in body
    principal = authenticate(body["token"])
    assert principal is not None and principal.name == "new-1"
    assert Agent.objects.get(agent_id="new-1").capabilities == ["code"]


@override_settings(AGENTCOM_JOIN_KEY=KEY)
def test_urls_follow_https_and_the_header_key_works(client):
    response = client.post(
        "/api/onboard/register",
        data=json.dumps({"agent_id": "secure-1"}),
        content_type="application/json",
        headers={"X-Join-Key": KEY},
        secure=True,
    )
    assert response.status_code == 201
    assert response.json()["hub_ws_url"] == "wss://testserver/ws"
    assert response.json()["hub_api_url"] == "https://testserver"


@override_settings(AGENTCOM_JOIN_KEY=KEY)
def test_an_existing_agent_is_409(client, make_agent):
    make_agent("taken")
    response = register(client, {"agent_id": "taken", "join_key": KEY})
    assert response.status_code == 409
    assert response.json()["error"] == "agent_id already registered"
    assert Agent.objects.get(agent_id="taken").tokens.count() == 0


@override_settings(AGENTCOM_JOIN_KEY=KEY)
def test_a_bad_body_names_the_field(client):
    response = register(client, {"join_key": KEY})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "agent_id"
    assert register(client, {"agent_id": "operator:x", "join_key": KEY}).status_code == 422


def test_onboard_agent_writes_a_private_ready_config(tmp_path):
    out = StringIO()
    call_command(
        "onboard_agent",
        "laptop-7",
        "--capabilities",
        "code,python",
        "--hub-url",
        "wss://hub.example.com/ws",
        "--wake-command",
        "run-agent ${TASK_ID}",
        "--out",
        str(tmp_path / "laptop-7"),
        stdout=out,
    )
    path = tmp_path / "laptop-7" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = json.loads(path.read_text())
    assert config["agent_id"] == "laptop-7"
    assert config["hub_url"] == "wss://hub.example.com/ws"
    assert config["hub_api_url"] == "https://hub.example.com"
    assert config["capabilities"] == ["code", "python"]
    assert config["wake_command"] == "run-agent ${TASK_ID}"
    assert config["results_dir"] == "./results" and config["log_file"] == "./sidecar.log"
    assert authenticate(config["token"]).name == "laptop-7"
    printed = out.getvalue()
    assert f"-m sidecar --config {path}" in printed
    assert "[Service]" in printed and "ExecStart=" in printed
    assert config["token"] not in printed
    unit_path = tmp_path / "laptop-7" / "agentcom-sidecar-laptop-7.service"
    assert unit_path.exists()
    lines = printed.splitlines()
    assert lines[0] == "Created agent laptop-7 with a new token."
    assert f"Wrote {unit_path} (a systemd unit, shown below)." in lines
    assert f"  systemctl --user enable --now {unit_path}" in lines
    assert "*" not in printed
    assert printed.rstrip("\n").endswith(unit_path.read_text().rstrip("\n"))


def test_onboard_agent_again_issues_a_new_token(tmp_path):
    target = str(tmp_path / "again")
    call_command("onboard_agent", "again", "--out", target, stdout=StringIO())
    first = json.loads((tmp_path / "again" / "config.json").read_text())["token"]
    out = StringIO()
    call_command("onboard_agent", "again", "--out", target, stdout=out)
    second = json.loads((tmp_path / "again" / "config.json").read_text())
    assert second["token"] != first and authenticate(first) is not None
    assert out.getvalue().splitlines()[0] == (
        "Agent again already existed: issued it a new token "
        "(its older tokens stay valid until revoked)."
    )
    assert second["wake_command"].startswith("openclaw agent")


def test_generated_files_quote_every_value_for_their_format(tmp_path):
    out = tmp_path / "a b $(touch pwned) `id` 'q' \"d\" %h $HOME"
    wake = 'agent --message "$(cat $AGENTCOM_TASK_FILE)" # it\'s "quoted"\n'
    printed = StringIO()

    call_command(
        "onboard_agent", "odd-dir", "--wake-command", wake, "--out", str(out), stdout=printed
    )

    config_path = out / "config.json"
    assert json.loads(config_path.read_text())["wake_command"] == wake
    command = next(line for line in printed.getvalue().splitlines() if "-m sidecar" in line)
    words = shlex.split(command.strip())
    assert words[0] == f"PYTHONPATH={onboarding.REPO_ROOT}"
    assert words[1:] == [sys.executable, "-m", "sidecar", "--config", str(config_path)]
    unit = (out / "agentcom-sidecar-odd-dir.service").read_text()
    assert f"WorkingDirectory={str(out).replace('%', '%%')}\n" in unit
    assert '"--config" "' in unit and "%%h $$HOME" in unit and '\\"d\\"' in unit
    assert not list(tmp_path.rglob("pwned"))
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(
            ["systemd-analyze", "verify", str(out / "agentcom-sidecar-odd-dir.service")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert verify.returncode == 0, verify.stderr


def test_a_unit_value_with_a_line_break_is_refused():
    with pytest.raises(ValueError, match="line break"):
        onboarding.systemd_unit("x", Path("/srv/a\nExecStartPre=/bin/evil/config.json"))
