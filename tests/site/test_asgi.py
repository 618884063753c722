"""The hub's ASGI handler: HTTP runs through the sync middleware chain in the database thread."""

import asyncio
import json
import threading

import pytest
from channels.db import database_sync_to_async
from channels.testing import HttpCommunicator
from django.urls import resolve

from agentcom_site.asgi import application, django_asgi_app

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_middleware_chain_is_synchronous():
    # An async chain would hop between the loop and the thread for every hook.
    assert not asyncio.iscoroutinefunction(django_asgi_app._middleware_chain)


async def test_requests_are_served_in_the_thread_the_consumers_use(monkeypatch):
    resolve("/health")  # loads the URLconf, and with it the API modules
    from agents import api as agents_api

    seen: list[int] = []
    count = agents_api.connected_agents

    def spy():
        seen.append(threading.get_ident())
        return count()

    monkeypatch.setattr(agents_api, "connected_agents", spy)
    response = await HttpCommunicator(application, "GET", "/health").get_response()
    assert response["status"] == 200 and json.loads(response["body"])["status"] == "ok"
    consumer_thread = await database_sync_to_async(threading.get_ident)()
    assert seen == [consumer_thread]


async def test_refusals_still_come_from_the_middleware():
    communicator = HttpCommunicator(
        application,
        "POST",
        "/api/tasks",
        body=b"{nope",
        headers=[(b"content-type", b"application/json")],
    )
    response = await communicator.get_response()
    assert response["status"] == 400 and json.loads(response["body"])["error"] == "invalid_json"


async def test_a_declared_length_over_the_limit_is_refused_unread(settings):
    communicator = HttpCommunicator(
        application,
        "POST",
        "/api/tasks",
        headers=[(b"content-length", str(settings.AGENTCOM_MAX_FRAME_BYTES + 1).encode())],
    )
    response = await communicator.get_response()
    assert response["status"] == 413
    assert json.loads(response["body"])["error"] == "payload_too_large"
    assert communicator.input_queue.qsize() == 1  # not even the first body message was read


async def test_a_streamed_body_is_cut_off_at_the_limit(settings):
    settings.AGENTCOM_MAX_FRAME_BYTES = 1000
    communicator = HttpCommunicator(application, "POST", "/api/tasks")
    for _ in range(3):
        await communicator.send_input(
            {"type": "http.request", "body": b"x" * 600, "more_body": True}
        )
    start = await communicator.receive_output(1)
    body = await communicator.receive_output(1)
    assert start["status"] == 413 and json.loads(body["body"])["error"] == "payload_too_large"
    assert communicator.input_queue.qsize() == 1  # the third chunk was never read


async def test_a_response_over_the_cap_is_refused_not_sent(settings, caplog):
    settings.AGENTCOM_MAX_RESPONSE_BYTES = 20
    response = await HttpCommunicator(application, "GET", "/health").get_response()
    assert response["status"] == 500
    assert json.loads(response["body"])["error"] == "response_too_large"
    assert "refused to send" in caplog.text
