"""Agents of a hub process that stopped beating go offline; others stay."""

from datetime import timedelta

import pytest

from agentcom_site.core.clock import now
from agents import presence, processes
from agents.models import Agent, HubProcess
from tests.conftest import bring_online

pytestmark = pytest.mark.django_db


def online_through(make_agent, agent_id: str, process_id: str) -> Agent:
    agent = bring_online(make_agent(agent_id))
    Agent.objects.filter(pk=agent.pk).update(hub_process=process_id)
    return agent


def test_agents_of_a_silent_process_go_offline(make_agent, settings):
    settings.AGENTCOM_PROCESS_DEAD_AFTER_S = 5
    HubProcess.objects.create(process_id="dead", beat_at=now() - timedelta(seconds=6))
    HubProcess.objects.create(process_id="alive", beat_at=now() - timedelta(seconds=4))
    online_through(make_agent, "orphan", "dead")
    online_through(make_agent, "never-beat", "unknown")
    online_through(make_agent, "kept", "alive")
    online_through(make_agent, "unstamped", "")

    assert sorted(presence.release_orphans()) == ["never-beat", "orphan"]
    states = dict(Agent.objects.values_list("agent_id", "state"))
    assert states == {
        "kept": "idle",
        "never-beat": "offline",
        "orphan": "offline",
        "unstamped": "idle",
    }
    assert presence.release_orphans() == []


def test_a_beat_keeps_this_process_alive_and_a_clean_stop_releases_its_agents(make_agent):
    processes.beat()
    online_through(make_agent, "mine", processes.PROCESS_ID)
    assert presence.release_orphans() == []
    assert presence.release_process(processes.PROCESS_ID) == ["mine"]
    processes.forget()
    assert not HubProcess.objects.filter(pk=processes.PROCESS_ID).exists()


def test_long_dead_processes_are_forgotten():
    HubProcess.objects.create(process_id="ancient", beat_at=now() - timedelta(hours=2))
    HubProcess.objects.create(process_id="recent", beat_at=now() - timedelta(minutes=5))
    presence.release_orphans()
    assert list(HubProcess.objects.values_list("process_id", flat=True)) == ["recent"]
