"""Message lists stop adding items once their payloads pass the page budget, and say so."""

import pytest

from messaging import routing

pytestmark = pytest.mark.django_db


def send_big(sender: str, to: str, count: int, size: int) -> None:
    for i in range(count):
        routing.send_message(sender=sender, to=to, payload={"i": i, "blob": "b" * size})


def test_a_mailbox_page_stops_at_the_budget_and_the_rest_follows(api_for, settings):
    settings.AGENTCOM_PAGE_PAYLOAD_BYTES = 25_000
    bob = api_for("bob")
    api_for("alice")
    send_big("alice", "bob", 6, 10_000)

    status, first = bob.get("/api/mailbox/bob")
    assert status == 200 and first["count"] == 2 and first["more"] is True
    _, rest = bob.get("/api/mailbox/bob", since=first["last_seq"])
    assert rest["count"] == 2 and rest["more"] is True
    _, last = bob.get("/api/mailbox/bob", since=rest["last_seq"])
    assert last["count"] == 2 and last["more"] is False
    seen = [m["payload"]["i"] for page in (first, rest, last) for m in page["messages"]]
    assert seen == list(range(6))


def test_one_message_over_the_budget_is_still_delivered(api_for, settings):
    settings.AGENTCOM_PAGE_PAYLOAD_BYTES = 100
    bob = api_for("bob")
    api_for("alice")
    send_big("alice", "bob", 2, 1_000)
    status, page = bob.get("/api/mailbox/bob")
    assert status == 200 and page["count"] == 1 and page["more"] is True


def test_the_message_history_pages_by_bytes_with_its_cursor(api_for, settings):
    settings.AGENTCOM_PAGE_PAYLOAD_BYTES = 25_000
    alice = api_for("alice")
    api_for("bob")
    send_big("alice", "bob", 5, 10_000)
    status, page = alice.get("/api/messages", limit=200)
    assert status == 200 and page["count"] == 2 and page["more"] is True
    _, rest = alice.get("/api/messages", limit=200, cursor=page["cursor"])
    assert rest["count"] == 2
