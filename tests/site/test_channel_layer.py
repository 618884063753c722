"""The embedded hub's channel layer: the stock expiry sweep, run at most once per interval."""

from channels.layers import InMemoryChannelLayer

from agentcom_site.layers import HubInMemoryChannelLayer


def test_the_expiry_sweep_runs_once_per_interval_however_many_frames(monkeypatch):
    sweeps = []
    monkeypatch.setattr(InMemoryChannelLayer, "_clean_expired", lambda self: sweeps.append(1))
    layer = HubInMemoryChannelLayer()
    for _ in range(1000):
        layer._clean_expired()
    assert len(sweeps) == 1
    layer._cleaned_at -= layer.clean_interval_s
    layer._clean_expired()
    assert len(sweeps) == 2


async def test_expired_messages_are_still_dropped():
    layer = HubInMemoryChannelLayer(expiry=-1)  # expired as soon as sent
    layer.clean_interval_s = 0
    await layer.send("old.socket", {"type": "agent.push"})
    await layer.group_add("agentcom.agents", "old.socket")
    layer._clean_expired()
    assert "old.socket" not in layer.channels
    assert "old.socket" not in layer.groups.get("agentcom.agents", {})
