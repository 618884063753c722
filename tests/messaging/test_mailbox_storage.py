"""Mailbox storage: a broadcast's payload is stored once, mailboxes keep a byte budget as
well as an entry cap, and an agent may create only so many channels."""

import pytest

from agents import services
from agents.models import Agent
from messaging import mailbox, routing, topics
from messaging.models import Channel, MailboxEntry, MailboxLetter

pytestmark = pytest.mark.django_db


def agents(*names: str) -> None:
    for name in names:
        services.ensure_agent(name, capabilities=[])


def test_a_broadcast_stores_its_payload_once_for_every_offline_agent(api_for):
    agents(*(f"off-{i}" for i in range(30)))
    big = {"text": "x" * 10_000}
    message = routing.send_message(sender="off-0", to=None, payload=big)
    letter = MailboxLetter.objects.get()
    assert letter.message_id == message.id and letter.size == mailbox.payload_size(big)
    assert MailboxEntry.objects.filter(letter=letter).count() == 29  # not the sender

    # Each mailbox still reads exactly as before: the whole message, its own seq.
    body = api_for("off-7").get("/api/mailbox/off-7")[1]
    [entry] = body["messages"]
    assert set(entry) == {"id", "from", "to", "type", "payload", "reply_to", "timestamp", "seq"}
    assert (entry["id"], entry["from"], entry["to"], entry["payload"]) == (
        message.id,
        "off-0",
        None,
        big,
    )


def test_the_letter_goes_with_the_last_entry_that_holds_it(api_for):
    agents("alpha", "beta", "gamma")
    routing.send_message(sender="alpha", to=None, payload={"n": 1})
    for owner in ("beta", "gamma"):
        reader = api_for(owner)
        seq = reader.get(f"/api/mailbox/{owner}")[1]["last_seq"]
        assert MailboxLetter.objects.count() == 1
        reader.post(f"/api/mailbox/{owner}/ack", {"seq": seq})
    assert not MailboxEntry.objects.exists() and not MailboxLetter.objects.exists()


def test_a_channel_publish_is_one_letter_with_the_channel_in_its_payload():
    agents("alpha", "beta", "gamma")
    topics.create_channel(name="news", description="", created_by="alpha")
    for name in ("beta", "gamma"):
        topics.subscribe(name="news", agent=Agent.objects.get(agent_id=name))
    topics.publish(name="news", sender="alpha", payload={"v": 1})
    [letter] = MailboxLetter.objects.all()
    assert letter.payload == {"v": 1, "channel": "news"} and letter.entries.count() == 2


def test_a_mailbox_over_its_byte_budget_drops_the_oldest(settings):
    settings.AGENTCOM_MAILBOX_MAX_BYTES = 3_000
    agents("alpha", "beta")
    sent = [
        routing.send_message(sender="alpha", to="beta", payload={"t": "x" * 990}).id
        for _ in range(5)
    ]
    # Each payload is 1 000 bytes: three fit.
    kept = MailboxEntry.objects.filter(owner="beta").order_by("seq")
    assert list(kept.values_list("letter__message_id", flat=True)) == sent[2:]
    assert MailboxLetter.objects.count() == 3  # the dropped entries' letters went too


def test_the_newest_entry_stays_even_when_it_alone_is_over_the_budget(settings):
    settings.AGENTCOM_MAILBOX_MAX_BYTES = 100
    agents("alpha", "beta")
    routing.send_message(sender="alpha", to="beta", payload={"n": 1})
    newest = routing.send_message(sender="alpha", to="beta", payload={"t": "x" * 500})
    assert list(MailboxEntry.objects.values_list("letter__message_id", flat=True)) == [newest.id]


def test_a_shared_letter_outlives_one_mailbox_trimming_it(settings):
    settings.AGENTCOM_MAILBOX_MAX_ENTRIES = 1
    agents("alpha", "beta", "gamma")
    shared = routing.send_message(sender="alpha", to=None, payload={"all": 1})
    routing.send_message(sender="alpha", to="beta", payload={"only": "beta"})
    gamma = MailboxEntry.objects.filter(owner="gamma")
    assert list(gamma.values_list("letter__message_id", flat=True)) == [shared.id]
    beta = MailboxEntry.objects.filter(owner="beta")
    assert beta.count() == 1 and beta.get().letter.message_id != shared.id
    assert MailboxLetter.objects.filter(message_id=shared.id).exists()


def test_an_agent_may_create_only_so_many_channels(settings, api_for, ops):
    settings.AGENTCOM_MAX_CHANNELS_PER_CREATOR = 2
    alpha = api_for("alpha")
    assert [alpha.post("/api/channels", {"name": f"c{i}"})[0] for i in range(2)] == [201, 201]
    status, body = alpha.post("/api/channels", {"name": "c2"})
    assert (status, body["error"], body["limit"]) == (409, "too_many_channels", 2)
    assert not Channel.objects.filter(name="c2").exists()
    assert api_for("beta").post("/api/channels", {"name": "c2"})[0] == 201  # per creator
    assert all(ops.post("/api/channels", {"name": f"o{i}"})[0] == 201 for i in range(3))
