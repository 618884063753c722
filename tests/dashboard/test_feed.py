"""The compact dashboard events made from hub events (PROTOCOL.md §5)."""

from agentcom_site.core.events import Event
from agentcom_site.dashboard.feed import compact


def kinds(event: Event) -> list[tuple]:
    return [(e["type"], e.get("event"), e.get("fsm_state")) for e in compact(event)]


def test_task_events_keep_their_names_and_move_the_holder():
    assert kinds(Event("task_submitted", task_id="t1")) == [("task_event", "task_submitted", None)]
    assert kinds(Event("task_assigned", task_id="t1", agent_id="a", data={"frame": {}})) == [
        ("task_event", "task_assigned", None),
        ("agent_state", None, "assigned"),
    ]
    assert kinds(Event("task_accepted", task_id="t1", agent_id="a"))[1] == (
        "agent_state",
        None,
        "working",
    )


def test_an_operator_retry_is_reported_as_task_retried():
    (event,) = compact(Event("task_requeued", task_id="t1"))
    assert event["event"] == "task_retried" and event["task_id"] == "t1"


def test_presence_events():
    joined = compact(
        Event("agent_joined", agent_id="a", data={"agent": {"name": "A", "capabilities": ["x"]}})
    )
    assert joined[0] | {"timestamp": 0} == {
        "type": "agent_joined",
        "agent_id": "a",
        "name": "A",
        "capabilities": ["x"],
        "timestamp": 0,
    }
    assert compact(Event("agent_left", agent_id="a"))[0]["type"] == "agent_left"
    status = compact(Event("status_changed", agent_id="a", data={"agent": {"status": "busy"}}))
    assert status[0]["status"] == "busy"
    assert kinds(Event("agent_idle", agent_id="a")) == [("agent_state", None, "idle")]


def test_internal_events_are_not_shown():
    assert compact(Event("task_taken", task_id="t1", data={"reason": "x"})) == []
