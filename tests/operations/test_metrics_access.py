"""Who may read /metrics and change the log level: an auth matrix over the real views."""

import logging

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from agentcom_site.core import logs
from messaging import config
from tests.conftest import Api

pytestmark = pytest.mark.django_db

SCRAPE_TOKEN = "scrape-" + "s" * 24


@pytest.fixture(autouse=True)
def scrape_settings(settings):
    settings.AGENTCOM_METRICS_TOKEN = SCRAPE_TOKEN
    settings.AGENTCOM_METRICS_ALLOW = ["10.1.0.0/16"]


def scrape(token: str | None = None, address: str = "192.0.2.7", client: Client | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return (client or Client()).get("/metrics", headers=headers, REMOTE_ADDR=address)


def test_anonymous_gets_401_in_the_house_shape():
    response = scrape()
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_an_unknown_token_gets_401(operator_token):
    assert scrape("0" * 64).status_code == 401


def test_an_agent_token_gets_403(make_agent, agent_token):
    response = scrape(agent_token(make_agent("nosy")))
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


@pytest.mark.parametrize(
    "how", ["operator token", "scrape token", "staff session", "allowed address"]
)
def test_operators_the_scrape_token_and_allowed_addresses_read_the_text_format(
    how, operator_token, staff_client
):
    response = {
        "operator token": lambda: scrape(operator_token),
        "scrape token": lambda: scrape(SCRAPE_TOKEN),
        "staff session": lambda: scrape(client=staff_client),
        "allowed address": lambda: scrape(address="10.1.2.3"),
    }[how]()
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    names = {f.name for f in text_string_to_metric_families(response.content.decode())}
    assert {"agentcom_tasks", "agentcom_agents", "agentcom_http_requests"} <= names


def test_without_a_scrape_token_setting_an_empty_bearer_is_not_let_in(settings):
    settings.AGENTCOM_METRICS_TOKEN = ""
    assert scrape("").status_code == 401
    assert scrape(SCRAPE_TOKEN).status_code == 401


def test_an_address_outside_the_allow_list_is_refused():
    assert scrape(address="10.2.0.1").status_code == 401


def test_metrics_refuses_writes(operator_token):
    response = Client().post("/metrics", headers={"Authorization": f"Bearer {operator_token}"})
    assert response.status_code == 405


# --- the log level ------------------------------------------------------------------------


@pytest.fixture
def restore_level():
    before = logging.getLogger().level
    yield
    logging.getLogger().setLevel(before)


def test_log_level_is_for_operators_only(make_agent, agent_token, restore_level):
    assert Api().put("/api/admin/log-level", {"level": "DEBUG"})[0] == 401
    status, body = Api(agent_token(make_agent("sly"))).put(
        "/api/admin/log-level", {"level": "DEBUG"}
    )
    assert status == 403 and body["error"] == "forbidden"
    assert config.get(config.LOG_LEVEL) is None
    assert Api().get("/api/admin/log-level")[0] == 401


def test_an_operator_sets_the_level_here_and_stores_it_for_every_process(ops, restore_level):
    status, body = ops.put("/api/admin/log-level", {"level": "debug"})
    assert status == 200, body
    assert body["level"] == "DEBUG" and body["stored"] == "DEBUG"
    assert logs.current_level() == "DEBUG"
    assert config.get(config.LOG_LEVEL) == "DEBUG"

    status, body = ops.put("/api/admin/log-level", {"level": None})
    assert status == 200 and body["stored"] is None
    assert body["level"] == body["default"]


@pytest.mark.parametrize("level", ["LOUD", 10, "", ["INFO"]])
def test_a_bad_level_is_refused_and_changes_nothing(ops, level, restore_level):
    before = logs.current_level()
    status, body = ops.put("/api/admin/log-level", {"level": level})
    assert status == 422 and body["error"] == "validation_failed"
    assert logs.current_level() == before
    assert config.get(config.LOG_LEVEL) is None


def test_another_process_picks_up_the_stored_level(ops, restore_level):
    from agentcom_site.operations.loglevel import apply_stored_level

    config.put(config.LOG_LEVEL, "ERROR", actor="operator:elsewhere")
    apply_stored_level()
    assert logs.current_level() == "ERROR"
