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
