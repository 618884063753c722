"""Flow control as placement rules: pauses, WIP caps and draining, in the pass and the claim."""

import threading

import pytest
from django.db import connection

from agents import services
from agents.models import Agent
from tasks import flow, queue
from tasks.models import FlowChange, Task
from tasks.scheduler import schedule_pass
from tests.conftest import bring_online

pytestmark = pytest.mark.django_db

OPS = "operator:ops"


def held() -> dict[str, str]:
    """Task description → holder, for every held task."""
    rows = Task.objects.filter(status__in=("assigned", "working"))
    return dict(rows.values_list("description", "holder__agent_id"))


def finish(description: str) -> None:
    task = Task.objects.select_related("holder").get(description=description)
    queue.complete_task(task.id, task.holder, task.generation, result={})


def test_a_pause_keeps_queued_work_waiting_and_lets_held_work_finish(make_agent, submit):
    worker = make_agent("worker", online=True)
    make_agent("spare", online=True)
    submit("running")
    assert schedule_pass() == 1
    flow.pause(actor=OPS, reason="maintenance")
    submit("waiting")

    assert schedule_pass() == 0
    running = Task.objects.get(description="running")
    queue.accept_task(running.id, worker, running.generation)
    queue.record_progress(running.id, worker, running.generation, progress={"pct": 50})
    queue.complete_task(running.id, worker, running.generation, result={"ok": True})
    assert held() == {}
    with pytest.raises(flow.Withheld):
        queue.assign_task(Task.objects.get(description="waiting").id, worker.pk)

    assert flow.resume(actor=OPS, reason="done") is True
    assert schedule_pass() == 1
    assert list(held()) == ["waiting"]


def test_pause_and_resume_are_audited_once_each(db):
    assert flow.pause(actor=OPS, reason="upgrade") is True
    assert flow.pause(actor="operator:other", reason="again") is False
    assert flow.resume(actor=OPS, capability="gpu") is False  # was not paused
    assert flow.resume(actor=OPS, reason="upgrade done") is True
    rows = FlowChange.objects.order_by("pk").values_list("action", "scope", "actor", "reason")
    assert list(rows) == [
        ("paused", "all", OPS, "upgrade"),
        ("resumed", "all", OPS, "upgrade done"),
    ]


def test_a_capability_pause_holds_only_tasks_that_need_it(make_agent, submit):
    make_agent("a1", capabilities=["gpu", "py"], online=True)
    make_agent("a2", capabilities=["gpu", "py"], online=True)
    flow.pause(actor=OPS, capability="gpu")
    submit("gpu work", needed_capabilities=["gpu", "py"])
    submit("py work", needed_capabilities=["py"])

    assert schedule_pass() == 1
    assert list(held()) == ["py work"]
    flow.resume(actor=OPS, capability="gpu")
    assert schedule_pass() == 1
    assert set(held()) == {"py work", "gpu work"}


def test_a_capability_cap_bounds_held_tasks_needing_it(make_agent, submit):
    for name in ("a1", "a2", "a3"):
        make_agent(name, capabilities=["gpu"], online=True)
    flow.set_cap(actor=OPS, scope="capability", key="gpu", limit=2)
    for i in range(4):
        submit(f"gpu {i}", needed_capabilities=["gpu"])
    submit("plain")

    assert schedule_pass() == 3
    assert sorted(held()) == ["gpu 0", "gpu 1", "plain"]
    finish("gpu 0")
    assert schedule_pass() == 1
    assert sorted(held()) == ["gpu 1", "gpu 2", "plain"]


def test_a_submitter_cap_leaves_other_submitters_free(make_agent, submit):
    for name in ("a1", "a2", "a3"):
        make_agent(name, online=True)
    flow.set_cap(actor=OPS, scope="submitter", key="ci-bot", limit=1)
    for i in range(3):
        submit(f"bot {i}", submitted_by="ci-bot")
    submit("human", submitted_by="alice")

    assert schedule_pass() == 2
    assert sorted(held()) == ["bot 0", "human"]
    with pytest.raises(flow.Withheld) as refusal:
        queue.assign_task(
            Task.objects.get(description="bot 1").id, Agent.objects.get(agent_id="a3").pk
        )
    assert (refusal.value.reason, refusal.value.extra["held"]) == ("wip_cap", 1)
    flow.set_cap(actor=OPS, scope="submitter", key="ci-bot", limit=None)
    assert schedule_pass() == 1


def test_default_caps_come_from_settings(make_agent, submit, settings):
    settings.AGENTCOM_WIP_CAP_PER_SUBMITTER = 1
    make_agent("a1", online=True)
    make_agent("a2", online=True)
    submit("first", submitted_by="bot")
    submit("second", submitted_by="bot")
    assert schedule_pass() == 1
    flow.set_cap(actor=OPS, scope="submitter", key="bot", limit=2)  # overrides the default
    assert schedule_pass() == 1
    assert sorted(held()) == ["first", "second"]


def test_a_draining_agent_finishes_its_task_and_gets_no_new_one(make_agent, submit):
    worker = make_agent("worker", online=True)
    submit("first")
    submit("second")
    assert schedule_pass() == 1
    services.set_draining("worker", draining=True, actor=OPS)

    finish("first")
    assert schedule_pass() == 0
    worker.refresh_from_db()
    assert (worker.state, worker.draining, worker.flags) == ("idle", True, ["draining"])
    with pytest.raises(queue.ClaimLost):
        queue.assign_task(Task.objects.get(description="second").id, worker.pk)

    bring_online(worker, "test.worker.again")  # reconnects: still draining
    worker.refresh_from_db()
    assert worker.draining is True
    assert schedule_pass() == 0
    services.set_draining("worker", draining=False, actor=OPS)
    assert schedule_pass() == 1
    assert held() == {"second": "worker"}


def test_a_draining_agent_does_not_keep_a_rejected_task_from_its_rejecter(make_agent, submit):
    picky = make_agent("picky", online=True)
    make_agent("leaving", online=True)
    services.set_draining("leaving", draining=True, actor=OPS)
    task = submit("rejected once")
    Task.objects.filter(pk=task.pk).update(rejected_by=["picky"])
    assert schedule_pass() == 1
    assert held() == {"rejected once": picky.agent_id}


def test_an_admin_push_refuses_a_draining_agent(make_agent):
    make_agent("worker", online=True)
    services.set_draining("worker", draining=True, actor=OPS)
    with pytest.raises(Exception) as refusal:
        queue.push_task(
            agent_id="worker",
            submitted_by=OPS,
            description="now",
            title=None,
            metadata={},
            priority=2,
            max_retries=0,
            complete_by=None,
            needed_capabilities=[],
        )
    assert refusal.value.code == "agent_draining"
    assert not Task.objects.exists()


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite serialises claims (BEGIN IMMEDIATE); its test database is one connection",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_exceed_a_cap(make_agent, submit):
    """Eight claims at once, each of its own task with its own agent, under a cap of 2:
    exactly two win, whichever processes or threads they run in (on Postgres the claims
    really overlap: rows are skipped, not waited for, so only the cap's lock orders them)."""
    flow.set_cap(actor=OPS, scope="capability", key="gpu", limit=2)
    # Offline while the tasks are submitted (the after-commit placement finds nobody),
    # then online without an announcement: nothing but the claims below assigns.
    agents = [make_agent(f"a{i}", capabilities=["gpu"]) for i in range(8)]
    tasks = [submit(f"gpu {i}", needed_capabilities=["gpu"]).id for i in range(8)]
    pairs = [(task, bring_online(agent).pk) for task, agent in zip(tasks, agents, strict=True)]
    start = threading.Barrier(len(pairs))
    outcomes: list[str] = []

    def claim(task_id: str, agent_pk: int) -> None:
        try:
            start.wait(timeout=30)
            queue.assign_task(task_id, agent_pk)
            outcomes.append("assigned")
        except flow.Withheld:
            outcomes.append("withheld")
        except queue.ClaimLost:
            outcomes.append("lost")
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes).count("assigned") == 2
    assert Task.objects.filter(status="assigned").count() == 2


def test_a_pass_does_not_try_to_claim_withheld_work(make_agent, submit, monkeypatch):
    """Paused keys have no stream, a full cap stops its stream and full submitters are left
    out of the pages: the pass claims only what it may, however much is withheld before it."""
    from tasks import scheduler

    make_agent("idle-box", capabilities=["gpu", "go", "py"], online=True)
    busy = make_agent("busy-box", capabilities=["gpu", "go", "py"], online=True)
    running = submit("running", needed_capabilities=["gpu"], submitted_by="flood")
    queue.assign_task(running.id, busy.pk)
    flow.set_cap(actor=OPS, scope="capability", key="gpu", limit=1)  # full: running
    flow.set_cap(actor=OPS, scope="submitter", key="flood", limit=1)  # full: running
    flow.pause(actor=OPS, capability="go")
    for i in range(30):
        submit(f"gpu {i}", needed_capabilities=["gpu"])
        submit(f"go {i}", needed_capabilities=["go"])
        submit(f"flood {i}", submitted_by="flood", needed_capabilities=["py"])
    submit("fresh", submitted_by="alice", needed_capabilities=["py"])
    claims = []
    claim = scheduler.queue.assign_task

    def counted(task_id: str, agent_pk: int):
        claims.append(task_id)
        return claim(task_id, agent_pk)

    monkeypatch.setattr(scheduler.queue, "assign_task", counted)

    assert schedule_pass() == 1
    assert held() == {"running": "busy-box", "fresh": "idle-box"}
    assert len(claims) == 1
