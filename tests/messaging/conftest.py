"""Messaging tests: HTTP clients per role, plus the socket and end-to-end fixtures."""

import copy
import json
import secrets

import pytest
from channels.layers import channel_layers, get_channel_layer
from django.test import Client

from tests.e2e.conftest import backend, start_hub  # noqa: F401  (end-to-end fixtures)


@pytest.fixture(autouse=True)
async def fresh_channel_layer(settings):
    """A channel layer per test, under its own Redis prefix in the scaled run, so neither
    another test run on the same Redis nor its flush can reach this test's groups."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    config = layers["default"].get("CONFIG", {})
    if "hosts" in config:
        config["prefix"] = f"agentcom-msgtest-{secrets.token_hex(4)}"
    settings.CHANNEL_LAYERS = layers
    channel_layers.backends.clear()
    yield
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        await layer.flush()
    channel_layers.backends.clear()


class Api:
    """A Django test client that speaks JSON and returns (status, body)."""

    def __init__(self, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = Client(headers=headers)

    def get(self, path: str, **params) -> tuple[int, dict]:
        response = self.client.get(path, params)
        return response.status_code, response.json()

    def send(self, method: str, path: str, body=None) -> tuple[int, dict]:
        data = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        response = self.client.generic(method, path, data or "", content_type="application/json")
        return response.status_code, response.json()

    def post(self, path: str, body=None) -> tuple[int, dict]:
        return self.send("POST", path, body)

    def put(self, path: str, body=None) -> tuple[int, dict]:
        return self.send("PUT", path, body)


@pytest.fixture
def api_for(make_agent, agent_token):
    """api_for("alpha") -> an Api acting as that agent (created if needed)."""

    def build(agent_id: str, *, online: bool = False) -> Api:
        return Api(agent_token(make_agent(agent_id, online=online)))

    return build


@pytest.fixture
def ops(operator_token) -> Api:
    return Api(operator_token)
