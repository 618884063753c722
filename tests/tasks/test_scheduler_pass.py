"""Queue order of a scheduling pass across its per-key and pinned streams."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agentcom_site.core.clock import now
from agents.models import Agent
from tasks import scheduler
from tasks.models import Task
from tasks.scheduler import schedule_pass
from tasks.selectors import queued_capability_keys, queued_pinned_agent_pks

pytestmark = pytest.mark.django_db

EVERYTHING = ["code", "python", "js", "rust"]


@pytest.fixture
def agents(make_agent):
    """Online agents, the first named the longest idle."""

    def make(*names: str, capabilities=EVERYTHING) -> list[Agent]:
        made = [make_agent(name, capabilities=capabilities, online=True) for name in names]
        start = now() - timedelta(hours=1)
        for rank, agent in enumerate(made):
            Agent.objects.filter(pk=agent.pk).update(idle_since=start + timedelta(seconds=rank))
        return made

    return make


@pytest.fixture
def task(submit):
    """A queued task `age_s` seconds old."""

    def make(name: str, *, age_s: float = 0, created_at=None, **fields) -> Task:
        made = submit(name, **fields)
        moment = created_at or now() - timedelta(seconds=age_s)
        Task.objects.filter(pk=made.pk).update(created_at=moment)
        return made

    return make


def holders() -> dict[str, str]:
    """Task description → agent id, for every assigned task."""
    assigned = Task.objects.filter(status="assigned")
    return dict(assigned.values_list("description", "holder__agent_id"))


def test_queue_order_holds_across_capability_keys_and_priorities(agents, task):
    agents("a1", "a2", "a3", "a4", "a5")
    task("rust low", needed_capabilities=["rust"], priority=3, age_s=90)
    task("py normal new", needed_capabilities=["python"], priority=2, age_s=10)
    task("plain normal old", priority=2, age_s=50)
    task("code+py urgent", needed_capabilities=["code", "python"], priority=0, age_s=1)
    task("js high", needed_capabilities=["js"], priority=1, age_s=5)
    task("code normal mid", needed_capabilities=["code"], priority=2, age_s=30)
    assert schedule_pass() == 5
    assert holders() == {
        "code+py urgent": "a1",
        "js high": "a2",
        "plain normal old": "a3",
        "code normal mid": "a4",
        "py normal new": "a5",
    }


def test_same_age_ties_go_by_id(agents, task):
    agents("first", "second", "third")
    moment = now() - timedelta(minutes=1)
    made = [
        task(f"t{i}", needed_capabilities=[cap], created_at=moment)
        for i, cap in enumerate(["code", "js", "python", "rust"])
    ]
    assert schedule_pass() == 3
    by_id = sorted(made, key=lambda t: t.id)
    assert holders() == {
        by_id[0].description: "first",
        by_id[1].description: "second",
        by_id[2].description: "third",
    }


def test_pinned_tasks_mix_into_queue_order_and_go_only_to_their_agent(agents, task):
    _, second, third = agents("first", "second", "third")
    busy = agents("busy")[0]
    Agent.objects.filter(pk=busy.pk).update(busy=True)
    task("pinned to third, urgent", pinned_to=third, priority=0, age_s=1)
    task("pinned to busy, urgent", pinned_to=busy, priority=0, age_s=2)
    task("open high", priority=1, age_s=3)
    task("pinned to second, normal", pinned_to=second, priority=2, age_s=60)
    task("open normal", needed_capabilities=["code"], priority=2, age_s=30)
    task("open low", priority=3, age_s=90)
    assert schedule_pass() == 3
    assert holders() == {
        "pinned to third, urgent": "third",
        "open high": "first",
        "pinned to second, normal": "second",
    }


def test_waiting_and_expired_tasks_are_skipped_inside_a_key(agents, task):
    agents("only")
    parent = task("parent", needed_capabilities=["rust"], priority=3)
    task("waits on parent", needed_capabilities=["code"], priority=0, depends_on=[parent.id])
    task("expired", needed_capabilities=["code"], priority=0, complete_by=now() - timedelta(1))
    task("ready", needed_capabilities=["code"], priority=1)
    assert schedule_pass() == 1
    assert holders() == {"ready": "only"}


def test_expired_pinned_task_is_skipped(agents, task):
    (only,) = agents("only")
    task("expired pin", pinned_to=only, priority=0, complete_by=now() - timedelta(1))
    task("open", priority=3)
    assert schedule_pass() == 1
    assert holders() == {"open": "only"}


def test_a_bulk_pass_pages_through_every_stream(agents, task, monkeypatch):
    monkeypatch.setattr(scheduler, "CHUNK", 2)
    names = [f"agent-{i:02d}" for i in range(12)]
    *open_takers, pinned_agent = agents(*names)
    moment = now() - timedelta(minutes=5)
    keys = [[], ["code"], ["python"]]
    for i in range(18):
        created = moment if i % 4 == 0 else moment + timedelta(seconds=i)  # some tie on age
        task(f"t{i:02d}", priority=i % 2, created_at=created, needed_capabilities=keys[i % 3])
    # The last agent to go idle, yet its pinned task is urgent: it still gets it.
    task("pinned", pinned_to=pinned_agent, priority=0, created_at=moment)
    open_in_order = (
        Task.objects.filter(pinned_to=None)
        .order_by("priority", "created_at", "id")
        .values_list("description", flat=True)
    )
    assert schedule_pass() == 12
    expected = dict(zip(open_in_order, [a.agent_id for a in open_takers], strict=False))
    assert holders() == {**expected, "pinned": pinned_agent.agent_id}


def test_pages_of_refused_tasks_do_not_hide_the_tasks_after_them(agents, task, monkeypatch):
    monkeypatch.setattr(scheduler, "CHUNK", 2)
    _, other = agents("picky", "other")
    Agent.objects.filter(pk=other.pk).update(busy=True)  # capable and connected, so not idle
    for i in range(5):
        refused = task(f"refused {i}", age_s=60 - i)
        Task.objects.filter(pk=refused.pk).update(rejected_by=["picky"])
    task("fresh", age_s=1)
    assert schedule_pass() == 1
    assert holders() == {"fresh": "picky"}


def test_a_pass_stops_reading_a_key_nobody_idle_can_take(agents, task, monkeypatch):
    monkeypatch.setattr(scheduler, "CHUNK", 2)
    agents("py", capabilities=["python"])
    agents("rusty", capabilities=["rust"])
    for i in range(20):
        task(f"rust {i}", needed_capabilities=["rust"], priority=0, age_s=100 - i)
    task("python", needed_capabilities=["python"], priority=3)
    with CaptureQueriesContext(connection) as queries:
        assert schedule_pass() == 2
    assert holders() == {"rust 0": "rusty", "python": "py"}
    rust_pages = [q for q in queries if 'FROM "tasks_task"' in q["sql"] and "'rust'" in q["sql"]]
    assert len(rust_pages) <= 2  # the first page, maybe one more; never all ten


def test_decision_queries_do_not_grow_with_the_queue(agents, task):
    def queries_for_one_decision() -> int:
        (agent,) = agents(f"agent-{Agent.objects.count()}")
        task("arrival", priority=0)
        with CaptureQueriesContext(connection) as queries:
            assert schedule_pass(agent_pk=agent.pk) == 1
        return len(queries)

    for i in range(8):
        task(f"backlog {i}", needed_capabilities=[["code"], ["js"]][i % 2], priority=3)
    shallow = queries_for_one_decision()
    for i in range(200):
        task(f"deep {i}", needed_capabilities=[["code"], ["js"]][i % 2], priority=3)
    assert queries_for_one_decision() == shallow


def test_a_pass_over_an_empty_queue_reads_no_agents(agents, task):
    agents(*(f"idle-{i}" for i in range(30)))
    done = task("done")
    Task.objects.filter(pk=done.pk).update(status="completed")

    with CaptureQueriesContext(connection) as queries:
        assert schedule_pass() == 0

    assert len(queries) == 1 and "agents_agent" not in queries[0]["sql"]


def test_pinned_tasks_are_found_among_more_idle_agents_than_one_query_asks(
    agents, task, monkeypatch
):
    monkeypatch.setattr("tasks.selectors.PINNED_ASKED_AT_ONCE", 4)
    idle = agents(*(f"agent-{i}" for i in range(10)))
    task("for the ninth", pinned_to=idle[8])
    task("for the second", pinned_to=idle[1])

    assert queued_pinned_agent_pks([a.pk for a in idle]) == {idle[8].pk, idle[1].pk}
    assert schedule_pass() == 2


def test_queued_capability_keys_are_distinct_and_only_queued(agents, task):
    assert queued_capability_keys() == []
    task("a", needed_capabilities=["python", "code"])
    task("b", needed_capabilities=["code", "python"])
    task("c")
    task("d", needed_capabilities=["js"])
    gone = task("e", needed_capabilities=["rust"])
    Task.objects.filter(pk=gone.pk).update(status="completed")
    assert queued_capability_keys() == ["", "code\x1fpython", "js"]


def test_a_lost_claim_asks_for_another_pass(agents, task, monkeypatch):
    first, _ = agents("a", "b")
    task("taken elsewhere", age_s=20)
    task("next", age_s=10)
    claim = scheduler.queue.assign_task
    passes = []

    def loses_the_first_race(task_id, agent_pk):
        # The first claim loses to another process; the agent stays idle.
        if not passes and agent_pk == first.pk:
            raise scheduler.queue.ClaimLost(task_id, "agent")
        return claim(task_id, agent_pk)

    monkeypatch.setattr(scheduler, "request_pass", lambda: passes.append(1))
    monkeypatch.setattr(scheduler.queue, "assign_task", loses_the_first_race)
    assert schedule_pass() == 1
    assert passes == [1]
    assert holders() == {"next": "b"}
    assert schedule_pass() == 1  # the pass asked for: the agent left idle takes the task
    assert holders() == {"next": "b", "taken elsewhere": "a"}


@pytest.fixture
def stopped():
    """This process stops assigning for the test (as a clean stop does); it assigns
    again afterwards whatever the test did."""
    assert scheduler.stop_assigning(timeout_s=1)
    yield
    scheduler.resume_assigning()


def test_a_stopping_process_assigns_nothing_until_it_resumes(agents, task, stopped):
    agents("a1")
    queued = task("plain")
    assert schedule_pass() == 0
    assert not scheduler.place_task(queued.pk)
    assert not scheduler.feed_agent("a1")
    assert holders() == {}
    scheduler.resume_assigning()
    assert schedule_pass() == 1
    assert holders() == {"plain": "a1"}


def test_stopping_waits_for_the_passes_under_way(stopped):
    scheduler.resume_assigning()
    entered = scheduler._assigning.enter()  # a pass is running
    try:
        assert entered
        assert not scheduler.stop_assigning(timeout_s=0.05)  # it has not ended
        assert not scheduler._assigning.enter()  # and none starts now
        stopping = threading.Thread(target=scheduler.stop_assigning, args=(30,))
        stopping.start()
    finally:
        scheduler._assigning.leave()  # the pass ends
    stopping.join(timeout=30)
    assert not stopping.is_alive()
    assert scheduler.stop_assigning(timeout_s=0)
