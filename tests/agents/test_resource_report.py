"""`resource_report` and `agent_restarting` on the agent socket: checked, kept, shown."""

import pytest

from agents import services, tokens
from agents.models import ResourceReport
from tests.conftest import Api
from tests.sockets import agent_socket, db

pytestmark = pytest.mark.django_db(transaction=True)

GOOD = {
    "type": "resource_report",
    "cpu_percent": 37.5,
    "ram_used_bytes": 6 * 2**30,
    "ram_total_bytes": 16 * 2**30,
    "vram_used_bytes": 2 * 2**30,
    "vram_total_bytes": 8 * 2**30,
    "load_1m": 1.25,
}


@db
def new_agent(agent_id: str = "reporter") -> str:
    agent, _ = services.ensure_agent(agent_id)
    return tokens.issue_agent_token(agent)[1]


@db
def stored(agent_id: str = "reporter") -> dict | None:
    row = ResourceReport.objects.filter(agent__agent_id=agent_id).values().first()
    return row


async def test_a_good_report_is_kept_without_an_answer():
    sock = await agent_socket("reporter", await new_agent())
    await sock.send(GOOD)
    assert await sock.nothing()
    row = await stored()
    assert row["cpu_percent"] == 37.5 and row["ram_total_bytes"] == 16 * 2**30
    assert row["vram_used_bytes"] == 2 * 2**30 and row["reported_at"] is not None
    await sock.close()


async def test_only_the_latest_report_is_kept():
    sock = await agent_socket("reporter", await new_agent())
    await sock.send(GOOD)
    await sock.send({**GOOD, "cpu_percent": 3, "vram_used_bytes": None, "vram_total_bytes": None})
    assert await sock.nothing()
    row = await stored()
    assert row["cpu_percent"] == 3 and row["vram_total_bytes"] is None
    assert await db(ResourceReport.objects.count)() == 1
    await sock.close()


@pytest.mark.parametrize(
    ("change", "field", "error"),
    [
        ({"cpu_percent": 100.5}, "cpu_percent", "out_of_range"),
        ({"cpu_percent": -1}, "cpu_percent", "out_of_range"),
        ({"cpu_percent": "12"}, "cpu_percent", "wrong_type"),
        ({"ram_used_bytes": -5}, "ram_used_bytes", "out_of_range"),
        ({"ram_total_bytes": 2**60}, "ram_total_bytes", "out_of_range"),
        ({"ram_used_bytes": 17 * 2**30}, "ram_used_bytes", "out_of_range"),
        ({"ram_total_bytes": 1.5}, "ram_total_bytes", "wrong_type"),
        ({"ram_total_bytes": None}, "ram_total_bytes", "wrong_type"),
        ({"vram_used_bytes": 9 * 2**30}, "vram_used_bytes", "out_of_range"),
        ({"vram_total_bytes": None}, "vram_total_bytes", "required"),
        ({"load_1m": True}, "load_1m", "wrong_type"),
    ],
)
async def test_a_bad_report_is_refused_naming_the_field_and_changes_nothing(change, field, error):
    sock = await agent_socket("reporter", await new_agent())
    answer = await sock.ask({**GOOD, **change})
    assert answer["type"] == "error" and answer["error"] == "validation_failed", answer
    assert answer["message_type"] == "resource_report"
    assert (answer["errors"][0]["field"], answer["errors"][0]["error"]) == (field, error)
    assert await stored() is None
    await sock.close()


async def test_a_report_missing_its_cpu_is_refused():
    sock = await agent_socket("reporter", await new_agent())
    frame = {k: v for k, v in GOOD.items() if k != "cpu_percent"}
    answer = await sock.ask(frame)
    assert answer["errors"][0] == {
        **answer["errors"][0],
        "field": "cpu_percent",
        "error": "required",
    }
    await sock.close()


async def test_agent_restarting_is_noted_until_the_next_report():
    sock = await agent_socket("reporter", await new_agent())
    await sock.send({"type": "agent_restarting", "reason": "upgrade to 2.1"})
    assert await sock.nothing()
    row = await stored()
    assert row["restarting_at"] is not None and row["restart_reason"] == "upgrade to 2.1"
    await sock.send(GOOD)
    assert await sock.nothing()
    row = await stored()
    assert row["restarting_at"] is None and row["cpu_percent"] == 37.5
    await sock.close()


async def test_agent_restarting_with_a_bad_reason_is_refused():
    sock = await agent_socket("reporter", await new_agent())
    answer = await sock.ask({"type": "agent_restarting", "reason": 7})
    assert answer["error"] == "validation_failed" and answer["errors"][0]["field"] == "reason"
    assert await stored() is None
    await sock.close()


async def test_the_agent_state_shows_the_latest_report(operator_token_async):
    sock = await agent_socket("reporter", await new_agent())
    await sock.send(GOOD)
    assert await sock.nothing()
    status, body = await db(Api(operator_token_async).get)("/api/agents/reporter/state")
    assert status == 200
    assert body["resources"]["cpu_percent"] == 37.5
    assert body["resources"]["ram_used_bytes"] == 6 * 2**30
    assert isinstance(body["resources"]["reported_at"], int)
    await sock.close()


@pytest.fixture
def operator_token_async(operator_token) -> str:
    return operator_token
