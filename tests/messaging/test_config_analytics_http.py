"""Config routes, analytics figures and retention, over HTTP and through the services."""

from datetime import timedelta

import pytest

from agentcom_site.core.clock import now
from agentcom_site.core.events import Event
from agents import services
from agents.models import Agent
from messaging import analytics, retention, routing, topics
from messaging.models import (
    ConfigValue,
    ConnectionSession,
    HourlyTraffic,
    MailboxEntry,
    MailboxLetter,
    Message,
)
from tests.conftest import Api, bring_online

pytestmark = pytest.mark.django_db


# --- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "key", "default", "new"),
    [
        ("/api/config/heartbeat-interval", "heartbeat_interval_ms", 900_000, 30_000),
        ("/api/config/mailbox-retention", "mailbox_ttl_ms", 604_800_000, 3_600_000),
    ],
)
def test_config_values_read_by_anyone_written_by_operators(
    api_for, ops, make_agent, agent_token, path, key, default, new
):
    agent = api_for("alpha")
    assert agent.get(path) == (200, {key: default})
    token = agent_token(make_agent("beta"))
    assert Api().get(path, token=token) == (200, {key: default})  # † legacy token
    assert Api().get(path)[0] == 401

    status, body = agent.put(path, {key: new})
    assert status == 403 and body["error"] == "forbidden"
    assert not ConfigValue.objects.exists()

    assert ops.put(path, {key: new}) == (200, {"status": "updated", key: new})
    assert agent.get(path) == (200, {key: new})
    for bad in ({}, {key: "60000"}, {key: 0}, {key: -5}, {key: 1.5}):
        status, body = ops.put(path, bad)
        assert status == 422 and body["errors"][0]["field"] == key
    assert agent.get(path)[1][key] == new


def test_default_repo_is_unset_until_an_operator_sets_it(api_for, ops):
    agent = api_for("alpha")
    assert agent.get("/api/config/default-repo") == (
        200,
        {"default_repo": None, "configured": False},
    )
    url = "https://example.org/team/repo.git"
    assert agent.put("/api/config/default-repo", {"url": url})[0] == 403
    assert ops.put("/api/config/default-repo", {"url": url}) == (
        200,
        {"status": "ok", "default_repo": url},
    )
    assert agent.get("/api/config/default-repo")[1] == {"default_repo": url, "configured": True}
    assert ops.put("/api/config/default-repo", {"url": None})[1]["default_repo"] is None
    assert agent.get("/api/config/default-repo")[1]["configured"] is False
    assert ops.put("/api/config/default-repo", {})[0] == 422
    assert ops.put("/api/config/default-repo", {"url": 5})[0] == 422


# --- analytics --------------------------------------------------------------------------------


def test_traffic_moves_the_hourly_buckets_and_the_figures(api_for, make_agent):
    reader = api_for("reader")
    make_agent("alpha", online=True)
    make_agent("beta")
    routing.send_message(sender="alpha", to="beta", payload={})
    routing.send_message(sender="alpha", to=None, payload={})  # reaches beta and reader
    routing.send_message(sender="beta", to="alpha", payload={})

    status, body = reader.get("/api/analytics/agents/alpha/hourly")
    assert status == 200 and body["agent_id"] == "alpha" and len(body["hourly"]) == 24
    last = body["hourly"][-1]
    assert (last["sent"], last["received"]) == (2, 1)
    assert last["hour"] == now().strftime("%H:00")
    buckets = [b["bucket"] for b in body["hourly"]]
    assert buckets == sorted(buckets) and buckets[1] - buckets[0] == 3_600_000

    figures = {f["agent_id"]: f for f in reader.get("/api/analytics/agents")[1]["agents"]}
    alpha, beta = figures["alpha"], figures["beta"]
    assert (alpha["messages_sent_24h"], alpha["messages_received_24h"]) == (2, 1)
    assert alpha["messages_sent_this_hour"] == 2
    assert (beta["messages_sent_24h"], beta["messages_received_24h"]) == (1, 2)
    assert alpha["connected"] and alpha["status"] == "active" and alpha["idle_ms"] >= 0
    assert not beta["connected"] and beta["status"] == "offline"
    assert figures["reader"]["messages_received_24h"] == 1
    assert set(alpha) == {
        "agent_id",
        "connected",
        "idle_ms",
        "status",
        "messages_sent_24h",
        "messages_received_24h",
        "messages_sent_this_hour",
        "connection_time_24h_ms",
        "last_active",
        "last_seen",
        "total_connections",
    }

    summary = reader.get("/api/analytics/summary")[1]
    assert summary["total_agents"] == 3 and summary["agents_connected"] == 1
    assert summary["agents_active"] == 1 and summary["agents_offline"] == 2
    assert summary["agents_idle"] == 0
    assert summary["total_messages_24h"] == 3 and isinstance(summary["timestamp"], int)


def test_channel_publishes_count_for_every_other_subscriber(make_agent):
    topics.create_channel(name="ops", description="", created_by="x")
    for agent_id in ("alpha", "beta", "gamma"):
        topics.subscribe(name="ops", agent=make_agent(agent_id))
    topics.publish(name="ops", sender="alpha", payload={})
    counts = dict(HourlyTraffic.objects.values_list("agent_id", "received"))
    assert counts == {"alpha": 0, "beta": 1, "gamma": 1}
    assert HourlyTraffic.objects.get(agent_id="alpha").sent == 1


def test_an_agent_without_traffic_has_24_empty_buckets(api_for):
    body = api_for("reader").get("/api/analytics/agents/nobody/hourly")[1]
    assert len(body["hourly"]) == 24
    assert all(b["sent"] == 0 and b["received"] == 0 for b in body["hourly"])


def test_sessions_follow_presence_events_and_count_connected_time(make_agent):
    make_agent("alpha")
    analytics.on_presence(Event("agent_joined", agent_id="alpha"))
    session = ConnectionSession.objects.get()
    ConnectionSession.objects.filter(pk=session.pk).update(started_at=now() - timedelta(minutes=10))
    analytics.on_presence(Event("agent_left", agent_id="alpha"))
    figure = next(f for f in analytics.agent_figures() if f["agent_id"] == "alpha")
    assert 599_000 <= figure["connection_time_24h_ms"] <= 601_000
    assert figure["last_active"] is not None


def test_a_restart_closes_orphan_sessions_at_last_seen(make_agent):
    agent = make_agent("alpha")
    started = now() - timedelta(hours=2)
    seen = now() - timedelta(hours=1)
    ConnectionSession.objects.create(agent_id="alpha", started_at=started)
    Agent.objects.filter(pk=agent.pk).update(last_seen=seen)
    assert retention.enforce_retention().sessions_closed == 1
    assert ConnectionSession.objects.get().ended_at == seen
    # An online agent's open session is left alone.
    bring_online(agent)
    ConnectionSession.objects.create(agent_id="alpha", started_at=now())
    assert retention.enforce_retention().sessions_closed == 0


# --- retention --------------------------------------------------------------------------------


def beta() -> str:
    """The recipient of the retention tests' messages, registered (unknown ids are refused)."""
    return services.ensure_agent("beta", capabilities=[])[0].agent_id


def test_evict_is_for_operators_and_drops_entries_past_the_ttl(api_for, ops):
    agent = api_for("alpha")
    routing.send_message(sender="alpha", to=beta(), payload={"old": True})
    MailboxLetter.objects.update(stored_at=now() - timedelta(days=8))
    routing.send_message(sender="alpha", to=beta(), payload={"old": False})
    status, body = agent.post("/api/mailbox/evict")
    assert (status, body["error"]) == (403, "forbidden") and MailboxEntry.objects.count() == 2
    assert ops.post("/api/mailbox/evict") == (200, {"status": "eviction_triggered"})
    assert list(MailboxEntry.objects.values_list("letter__payload", flat=True)) == [{"old": False}]


def test_the_ttl_follows_the_config_route(ops):
    routing.send_message(sender="alpha", to=beta(), payload={})
    MailboxLetter.objects.update(stored_at=now() - timedelta(minutes=2))
    assert retention.enforce_retention().mailbox_expired == 0
    ops.put("/api/config/mailbox-retention", {"mailbox_ttl_ms": 60_000})
    assert retention.enforce_retention().mailbox_expired == 1
    assert not MailboxEntry.objects.exists()


def test_history_keeps_the_newest_and_spares_channel_messages(settings):
    settings.AGENTCOM_HISTORY_KEEP = 3
    topics.create_channel(name="ops", description="", created_by="x")
    topics.publish(name="ops", sender="alpha", payload={})
    sent = [routing.send_message(sender="alpha", to=beta(), payload={}).id for _ in range(5)]
    assert retention.enforce_retention().history_pruned == 2
    kept = list(Message.objects.filter(kind="direct").values_list("id", flat=True))
    assert kept == sent[2:] and Message.objects.filter(kind="channel").count() == 1


def test_a_mailbox_cap_from_settings_is_applied(settings):
    settings.AGENTCOM_MAILBOX_MAX_ENTRIES = 2
    ids = [routing.send_message(sender="alpha", to=beta(), payload={}).id for _ in range(4)]
    assert list(MailboxEntry.objects.values_list("letter__message_id", flat=True)) == ids[2:]


def test_old_figures_are_dropped(make_agent):
    HourlyTraffic.objects.create(agent_id="alpha", bucket=now() - timedelta(days=8), sent=1)
    ConnectionSession.objects.create(
        agent_id="alpha", started_at=now() - timedelta(days=3), ended_at=now() - timedelta(days=3)
    )
    assert retention.enforce_retention().stats_pruned == 2
    assert not HourlyTraffic.objects.exists() and not ConnectionSession.objects.exists()


def test_the_retention_command_runs_the_same_function(capsys):
    from django.core.management import call_command

    routing.send_message(sender="alpha", to=beta(), payload={})
    MailboxLetter.objects.update(stored_at=now() - timedelta(days=30))
    call_command("enforce_retention")
    assert "mailbox_expired: 1" in capsys.readouterr().out
    assert not MailboxEntry.objects.exists()
