"""HTTP messaging: send, mailbox poll and ack, history and threads, with every refusal."""

import re

import pytest

from agentcom_site.core.clock import to_ms
from agents import services
from messaging import routing, topics
from messaging.models import Mailbox, MailboxEntry, MailboxLetter, Message
from tests.conftest import Api

pytestmark = pytest.mark.django_db

HEX16 = re.compile(r"^[0-9a-f]{16}$")


def state() -> tuple:
    return (
        list(Message.objects.values_list("id", "sender", "recipient")),
        list(MailboxEntry.objects.values_list("seq", "owner", "letter__message_id")),
    )


# --- POST /api/message ----------------------------------------------------------------------


def test_send_to_an_offline_agent_stores_history_and_a_mailbox_copy(api_for, make_agent):
    alpha = api_for("alpha")
    make_agent("beta")
    status, body = alpha.post(
        "/api/message",
        {"to": "beta", "payload": {"text": "hi"}, "type": "note", "from": "mallory"},
    )
    assert status == 200 and body["status"] == "sent" and HEX16.match(body["id"])
    message = Message.objects.get(id=body["id"])
    assert (message.sender, message.recipient, message.message_type) == ("alpha", "beta", "note")
    entry = MailboxEntry.objects.select_related("letter").get(owner="beta")
    assert entry.letter.message_id == body["id"] and entry.letter.payload == {"text": "hi"}


def test_a_message_to_an_unknown_agent_is_refused_and_makes_no_mailbox(api_for):
    status, body = api_for("alpha").post("/api/message", {"to": "ghost", "payload": {}})
    assert (status, body["error"], body["to"]) == (404, "unknown_agent", "ghost")
    assert not Message.objects.exists()
    assert not Mailbox.objects.exists() and not MailboxLetter.objects.exists()


def test_default_type_is_chat_and_an_online_recipient_gets_no_mailbox_copy(api_for, make_agent):
    make_agent("beta", online=True)
    _, body = api_for("alpha").post("/api/message", {"to": "beta", "payload": {"n": 1}})
    assert Message.objects.get(id=body["id"]).message_type == "chat"
    assert not MailboxEntry.objects.exists()


def test_broadcast_mailboxes_each_offline_agent_once_however_many_tokens(
    api_for, make_agent, agent_token
):
    sender = api_for("alpha")
    twice = make_agent("beta")
    agent_token(twice)
    agent_token(twice)
    make_agent("gamma", online=True)
    status, body = sender.post("/api/message", {"to": "broadcast", "payload": {"all": True}})
    assert status == 200
    assert sorted(MailboxEntry.objects.values_list("owner", flat=True)) == ["beta"]
    message = Message.objects.get(id=body["id"])
    assert message.kind == "broadcast" and message.recipient == ""
    # `to` omitted is a broadcast as well.
    sender.post("/api/message", {"payload": {}})
    assert MailboxEntry.objects.filter(owner="beta").count() == 2


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        ({"to": "beta"}, "payload", "required"),
        ({"to": "beta", "payload": [1, 2]}, "payload", "wrong_type"),
        ({"to": "beta", "payload": "text"}, "payload", "wrong_type"),
        ({"to": "b" * 129, "payload": {}}, "to", "too_long"),
        ({"to": 7, "payload": {}}, "to", "wrong_type"),
        ({"type": "t" * 65, "payload": {}}, "type", "too_long"),
        ({"reply_to": "r" * 129, "payload": {}}, "reply_to", "too_long"),
    ],
)
def test_bad_message_bodies_get_422_and_change_nothing(api_for, body, field, error):
    alpha = api_for("alpha")
    before = state()
    status, answer = alpha.post("/api/message", body)
    assert status == 422 and answer["error"] == "validation_failed"
    assert answer["errors"][0]["field"] == field and answer["errors"][0]["error"] == error
    assert state() == before


def test_send_refusals_for_missing_credentials_and_bad_json(api_for):
    before = state()
    status, answer = Api().post("/api/message", {"payload": {}})
    assert status == 401 and answer["error"] == "unauthorized" and "hint" in answer
    status, answer = api_for("alpha").post("/api/message", "{not json")
    assert status == 400 and answer["error"] == "invalid_json"
    huge = {"to": "beta", "payload": {"blob": "x" * (1024 * 1024)}}
    status, answer = api_for("alpha").post("/api/message", huge)
    assert status == 413 and answer["error"] == "payload_too_large"
    assert state() == before


# --- mailbox ----------------------------------------------------------------------------------


def fill_mailbox(owner: str, count: int) -> list[str]:
    services.ensure_agent(owner, capabilities=[])
    return [
        routing.send_message(sender="alpha", to=owner, payload={"n": i}).id for i in range(count)
    ]


def test_poll_returns_entries_in_seq_order_and_never_deletes(api_for):
    beta = api_for("beta")
    ids = fill_mailbox("beta", 3)
    status, body = beta.get("/api/mailbox/beta")
    assert status == 200 and body["agent_id"] == "beta" and body["count"] == 3
    assert [m["id"] for m in body["messages"]] == ids
    first = body["messages"][0]
    assert set(first) == {"id", "from", "to", "type", "payload", "reply_to", "timestamp", "seq"}
    assert first["from"] == "alpha" and first["to"] == "beta" and first["type"] == "chat"
    seqs = [m["seq"] for m in body["messages"]]
    assert seqs == sorted(seqs) and body["last_seq"] == seqs[-1]
    _, again = beta.get("/api/mailbox/beta", since=seqs[0])
    assert [m["seq"] for m in again["messages"]] == seqs[1:]
    _, empty = beta.get("/api/mailbox/beta", since=seqs[-1])
    assert empty["messages"] == [] and empty["last_seq"] == seqs[-1]
    assert MailboxEntry.objects.count() == 3


def test_ack_deletes_up_to_the_seq_and_a_later_poll_sees_only_newer(api_for):
    beta = api_for("beta")
    fill_mailbox("beta", 3)
    seqs = [m["seq"] for m in beta.get("/api/mailbox/beta")[1]["messages"]]
    status, body = beta.post("/api/mailbox/beta/ack", {"seq": seqs[1]})
    assert (status, body) == (200, {"status": "acked", "up_to": seqs[1]})
    newer = fill_mailbox("beta", 1)
    _, after = beta.get("/api/mailbox/beta")
    assert [m["seq"] for m in after["messages"]][:1] == seqs[2:]
    assert [m["id"] for m in after["messages"]][1:] == newer


def test_mailbox_takes_the_legacy_query_and_body_token(make_agent, agent_token):
    token = agent_token(make_agent("beta"))
    fill_mailbox("beta", 2)
    anonymous = Api()
    status, body = anonymous.get("/api/mailbox/beta", token=token)
    assert status == 200 and body["count"] == 2
    ack = {"seq": body["last_seq"], "token": token}
    status, body = anonymous.post("/api/mailbox/beta/ack", ack)
    assert status == 200 and not MailboxEntry.objects.exists()


def test_other_agents_mailboxes_are_forbidden_but_operators_may(api_for, ops):
    fill_mailbox("beta", 1)
    gamma = api_for("gamma")
    before = state()
    assert gamma.get("/api/mailbox/beta")[0] == 403
    status, body = gamma.post("/api/mailbox/beta/ack", {"seq": 10**9})
    assert status == 403 and body["error"] == "forbidden"
    assert state() == before
    assert ops.get("/api/mailbox/beta")[1]["count"] == 1
    assert Api().get("/api/mailbox/beta")[0] == 401


@pytest.mark.parametrize("since", ["abc", "-1", "1.5"])
def test_a_malformed_cursor_is_422(api_for, since):
    status, body = api_for("beta").get("/api/mailbox/beta", since=since)
    assert status == 422 and body["error"] == "validation_failed"
    assert body["errors"][0]["field"] == "since"


@pytest.mark.parametrize(
    ("body", "error"),
    [({}, "required"), ({"seq": "5"}, "wrong_type"), ({"seq": -1}, "out_of_range")],
)
def test_bad_acks_are_422_and_delete_nothing(api_for, body, error):
    beta = api_for("beta")
    fill_mailbox("beta", 1)
    before = state()
    status, answer = beta.post("/api/mailbox/beta/ack", body)
    assert status == 422 and answer["errors"][0] == {
        "field": "seq",
        "error": error,
        "detail": answer["errors"][0]["detail"],
    }
    assert state() == before


def test_a_mailbox_keeps_the_newest_hundred(api_for):
    ids = fill_mailbox("beta", 103)
    body = api_for("beta").get("/api/mailbox/beta")[1]
    assert body["count"] == 100 and [m["id"] for m in body["messages"]] == ids[3:]


def test_mailbox_seq_is_global_and_increasing_across_owners():
    fill_mailbox("beta", 1)
    fill_mailbox("gamma", 1)
    fill_mailbox("beta", 1)
    rows = list(MailboxEntry.objects.order_by("pk").values_list("owner", "seq"))
    assert [owner for owner, _ in rows] == ["beta", "gamma", "beta"]
    assert [seq for _, seq in rows] == sorted({seq for _, seq in rows})


# --- GET /api/messages ------------------------------------------------------------------------


def test_history_filters_and_cursor_pagination(ops, make_agent):
    reader = ops
    make_agent("beta")
    a = routing.send_message(sender="alpha", to="beta", payload={"channel": "ops"})
    b = routing.send_message(sender="gamma", to="beta", payload={})
    c = routing.send_message(sender="alpha", to=None, payload={})
    topics.create_channel(name="news", description="", created_by="alpha")
    topics.publish(name="news", sender="alpha", payload={})  # publishes stay out

    status, body = reader.get("/api/messages")
    assert status == 200 and [m["id"] for m in body["messages"]] == [a.id, b.id, c.id]
    assert body["count"] == 3 and body["cursor"] == body["messages"][-1]["seq"]
    assert set(body["messages"][0]) >= {"id", "from", "to", "type", "payload", "seq"}
    assert body["messages"][2]["to"] is None

    assert [m["id"] for m in reader.get("/api/messages", **{"from": "alpha"})[1]["messages"]] == [
        a.id,
        c.id,
    ]
    assert [m["id"] for m in reader.get("/api/messages", to="beta")[1]["messages"]] == [a.id, b.id]
    assert [m["id"] for m in reader.get("/api/messages", channel="ops")[1]["messages"]] == [a.id]

    page = reader.get("/api/messages", limit=2)[1]
    assert [m["id"] for m in page["messages"]] == [a.id, b.id]
    rest = reader.get("/api/messages", limit=2, cursor=page["cursor"])[1]
    assert [m["id"] for m in rest["messages"]] == [c.id]
    end = reader.get("/api/messages", cursor=rest["cursor"])[1]
    assert end == {"messages": [], "cursor": rest["cursor"], "count": 0, "more": False}


def test_history_time_window_is_inclusive(ops, make_agent):
    reader = ops
    make_agent("beta")
    a = routing.send_message(sender="alpha", to="beta", payload={})
    b = routing.send_message(sender="alpha", to="beta", payload={})
    ta, tb = to_ms(a.created_at), to_ms(b.created_at)
    ids = [m["id"] for m in reader.get("/api/messages", start_time=ta, end_time=tb)[1]["messages"]]
    assert ids == [a.id, b.id]
    only_a = reader.get("/api/messages", end_time=ta)[1]["messages"]
    assert a.id in [m["id"] for m in only_a]
    assert reader.get("/api/messages", start_time=tb + 1)[1]["messages"] == []


@pytest.mark.parametrize(
    "params",
    [{"cursor": "abc"}, {"limit": "201"}, {"limit": "0"}, {"start_time": "x"}, {"end_time": "-5"}],
)
def test_history_bad_query_is_422(api_for, params):
    status, body = api_for("reader").get("/api/messages", **params)
    assert status == 422 and body["errors"][0]["field"] == next(iter(params))


def test_history_takes_the_legacy_token_and_refuses_none(make_agent, agent_token):
    token = agent_token(make_agent("reader"))
    assert Api().get("/api/messages", token=token)[0] == 200
    assert Api().get("/api/messages")[0] == 401
    assert Api().get("/api/messages", token="0" * 64)[0] == 401


# --- threads ----------------------------------------------------------------------------------


def test_replies_join_the_parents_thread_channel_messages_included(ops, make_agent):
    reader = ops
    make_agent("alpha"), make_agent("beta")
    root = routing.send_message(sender="alpha", to="beta", payload={"q": 1})
    reply = routing.send_message(sender="beta", to="alpha", payload={}, reply_to=root.id)
    topics.create_channel(name="ops", description="", created_by="x")
    nested = topics.publish(name="ops", sender="gamma", payload={}, reply_to=reply.id)
    stray = routing.send_message(sender="alpha", to="beta", payload={}, reply_to="f" * 16)
    assert Message.objects.get(id=nested.id).thread_root == root.id
    assert Message.objects.get(id=stray.id).thread_root == stray.id

    status, body = reader.get(f"/api/threads/{nested.id}")
    assert status == 200 and body["root"] == root.id and body["count"] == 3
    assert [m["id"] for m in body["messages"]] == [root.id, reply.id, nested.id]
    assert body["messages"][2]["channel"] == "ops"

    _, replies = reader.get(f"/api/threads/{root.id}/replies")
    assert (
        replies
        == {
            "parent": root.id,
            "replies": [replies["replies"][0]],
            "count": 1,
            "more": False,
        }
        and replies["replies"][0]["id"] == reply.id
    )
    _, found = reader.get(f"/api/threads/{nested.id}/root")
    assert found == {"message_id": nested.id, "root": root.id}
    assert reader.get(f"/api/threads/{stray.id}/root")[1]["root"] == stray.id


def test_root_is_safe_against_a_cycle(make_agent):
    make_agent("alpha"), make_agent("beta")
    a = routing.send_message(sender="alpha", to="beta", payload={})
    b = routing.send_message(sender="beta", to="alpha", payload={}, reply_to=a.id)
    # A loop that routing never makes, written by hand.
    Message.objects.filter(id=a.id).update(reply_to=b.id, thread_root=b.id)
    Message.objects.filter(id=b.id).update(thread_root=a.id)
    from messaging.threads import root_of

    assert root_of(a.id) in (a.id, b.id)
    assert root_of(b.id) in (a.id, b.id)


@pytest.mark.parametrize("suffix", ["", "/replies", "/root"])
def test_unknown_thread_messages_are_404(api_for, suffix):
    status, body = api_for("reader").get(f"/api/threads/{'0' * 16}{suffix}")
    assert status == 404 and body["error"] == "message_not_found"


def test_threads_take_the_legacy_token(make_agent, agent_token):
    token = agent_token(make_agent("alpha"))
    make_agent("beta")
    message = routing.send_message(sender="alpha", to="beta", payload={})
    assert Api().get(f"/api/threads/{message.id}", token=token)[1]["count"] == 1
    assert Api().get(f"/api/threads/{message.id}")[0] == 401


# --- who may read what --------------------------------------------------------------------------


def test_an_agent_reads_its_own_direct_messages_broadcasts_and_its_channels(api_for, make_agent):
    alpha = api_for("alpha")
    for name in ("beta", "gamma"):
        make_agent(name)
    to_alpha = routing.send_message(sender="beta", to="alpha", payload={})
    from_alpha = routing.send_message(sender="alpha", to="gamma", payload={})
    routing.send_message(sender="beta", to="gamma", payload={"secret": 1})
    everyone = routing.send_message(sender="gamma", to=None, payload={})

    ids = [m["id"] for m in alpha.get("/api/messages")[1]["messages"]]
    assert ids == [to_alpha.id, from_alpha.id, everyone.id]
    # Filters narrow what it may read; they never widen it.
    assert alpha.get("/api/messages", to="gamma", **{"from": "beta"})[1]["messages"] == []


def test_an_agent_cannot_read_others_threads(api_for, make_agent):
    alpha = api_for("alpha")
    beta = make_agent("beta")
    make_agent("gamma")
    private = routing.send_message(sender="beta", to="gamma", payload={"secret": 1})
    reply = routing.send_message(sender="gamma", to="alpha", payload={}, reply_to=private.id)
    topics.create_channel(name="inner", description="", created_by="beta")
    topics.subscribe(name="inner", agent=beta)
    hidden = topics.publish(name="inner", sender="beta", payload={}, reply_to=reply.id)

    for suffix in ("", "/replies", "/root"):
        status, body = alpha.get(f"/api/threads/{private.id}{suffix}")
        assert (status, body["error"]) == (404, "message_not_found")
    # Its own part of the thread: the private root and the channel reply stay out.
    status, body = alpha.get(f"/api/threads/{reply.id}")
    assert status == 200 and [m["id"] for m in body["messages"]] == [reply.id]
    assert alpha.get(f"/api/threads/{reply.id}/replies")[1]["replies"] == []

    topics.subscribe(name="inner", agent=make_agent("alpha"))
    _, body = alpha.get(f"/api/threads/{reply.id}/replies")
    assert [m["id"] for m in body["replies"]] == [hidden.id]


def test_operators_read_everything(ops, make_agent):
    make_agent("gamma")
    private = routing.send_message(sender="beta", to="gamma", payload={})
    assert [m["id"] for m in ops.get("/api/messages")[1]["messages"]] == [private.id]
    assert ops.get(f"/api/threads/{private.id}")[1]["count"] == 1
