"""`explain` agrees with the scheduler: for each reason, build the situation, see the
code and see the pass leave the task alone; remove the cause, see `dispatching` and see
the pass assign it."""

from datetime import timedelta

import pytest

from agentcom_site.core.clock import now, now_ms
from agents import services
from agents.models import Agent
from tasks import explain, flow, queue
from tasks.models import Task
from tasks.scheduler import schedule_pass
from tests.conftest import bring_online

pytestmark = pytest.mark.django_db

OPS = "operator:ops"


def reasons(task: Task) -> list[dict]:
    return [r.as_dict() for r in explain.reasons(explain.read(Task.objects.get(pk=task.pk)))]


def codes(task: Task) -> list[str]:
    return [r["code"] for r in reasons(task)]


def still_queued_after_a_pass(task: Task) -> bool:
    schedule_pass()
    return Task.objects.get(pk=task.pk).status == "queued"


def dispatched_by_a_pass(task: Task) -> bool:
    assert codes(task) == ["dispatching"]
    schedule_pass()
    return Task.objects.get(pk=task.pk).status == "assigned"


def hold(agent: Agent, description: str, submit) -> Task:
    """Give `agent` a task of its own (pinned, so no other agent takes it)."""
    task = submit(description, pinned_to=agent)
    return queue.assign_task(task.id, agent.pk)


def finish(task: Task) -> None:
    task = Task.objects.select_related("holder").get(pk=task.pk)
    queue.complete_task(task.id, task.holder, task.generation, result={})


def test_waiting_on_dependencies(make_agent, submit):
    busy = make_agent("busy", online=True)
    make_agent("free", online=True)
    first = hold(busy, "first", submit)
    task = submit("second", depends_on=[first.id])
    (reason,) = reasons(task)
    assert reason["code"] == "waiting_on_dependencies"
    assert reason["details"] == {
        "dependencies": [{"task_id": first.id, "status": "assigned"}],
        "count": 1,
    }
    assert still_queued_after_a_pass(task)
    finish(first)
    assert dispatched_by_a_pass(task)


def test_paused_everything_then_resumed(make_agent, submit):
    make_agent("worker", online=True)
    flow.pause(actor=OPS)
    task = submit("wait")
    assert reasons(task) == [
        {
            "code": "paused",
            "message": "dispatch is paused for all tasks",
            "details": {"scope": "all"},
        }
    ]
    assert still_queued_after_a_pass(task)
    flow.resume(actor=OPS)
    assert dispatched_by_a_pass(task)


def test_paused_for_a_capability(make_agent, submit):
    make_agent("worker", capabilities=["gpu"], online=True)
    flow.pause(actor=OPS, capability="gpu")
    task = submit("render", needed_capabilities=["gpu"])
    (reason,) = reasons(task)
    assert (reason["code"], reason["details"]) == (
        "paused",
        {"scope": "capability", "capability": "gpu"},
    )
    assert still_queued_after_a_pass(task)
    flow.resume(actor=OPS, capability="gpu")
    assert dispatched_by_a_pass(task)


def test_wip_cap(make_agent, submit):
    first_gpu = make_agent("g1", capabilities=["gpu"], online=True)
    make_agent("g2", capabilities=["gpu"], online=True)
    flow.set_cap(actor=OPS, scope="capability", key="gpu", limit=1)
    running = queue.assign_task(submit("running", needed_capabilities=["gpu"]).id, first_gpu.pk)
    task = submit("next", needed_capabilities=["gpu"])
    (reason,) = reasons(task)
    assert reason["code"] == "wip_cap"
    assert reason["details"] == {
        "caps": [{"scope": "capability", "key": "gpu", "limit": 1, "held": 1}]
    }
    assert still_queued_after_a_pass(task)
    finish(running)
    assert dispatched_by_a_pass(task)


def test_no_agent_with_capabilities(make_agent, submit):
    make_agent("py-only", capabilities=["py"], online=True)
    task = submit("port it", needed_capabilities=["rust", "py"])
    (reason,) = reasons(task)
    assert reason["code"] == "no_agent_with_capabilities"
    assert reason["details"] == {"needed": ["py", "rust"], "missing": ["rust"]}
    assert still_queued_after_a_pass(task)
    make_agent("rustacean", capabilities=["rust", "py"], online=True)
    assert dispatched_by_a_pass(task)


def test_no_single_agent_has_all(make_agent, submit):
    make_agent("py-only", capabilities=["py"], online=True)
    make_agent("rust-only", capabilities=["rust"], online=True)
    task = submit("both", needed_capabilities=["rust", "py"])
    (reason,) = reasons(task)
    assert (reason["code"], reason["details"]["missing"]) == ("no_agent_with_capabilities", [])
    assert still_queued_after_a_pass(task)


def test_capable_agents_offline(make_agent, submit):
    away = make_agent("away", capabilities=["rust"])
    make_agent("other", capabilities=["py"], online=True)
    task = submit("port it", needed_capabilities=["rust"])
    (reason,) = reasons(task)
    assert (reason["code"], reason["details"]) == (
        "capable_agents_offline",
        {"agents": ["away"], "count": 1},
    )
    assert still_queued_after_a_pass(task)
    bring_online(away)
    assert dispatched_by_a_pass(task)


def test_capable_agents_draining(make_agent, submit):
    make_agent("leaving", online=True)
    services.set_draining("leaving", draining=True, actor=OPS)
    task = submit("anything")
    assert codes(task) == ["capable_agents_draining"]
    assert still_queued_after_a_pass(task)
    services.set_draining("leaving", draining=False, actor=OPS)
    assert dispatched_by_a_pass(task)


def test_all_capable_agents_busy(make_agent, submit):
    worker = make_agent("worker", online=True)
    running = hold(worker, "running", submit)
    task = submit("next")
    (reason,) = reasons(task)
    assert reason["code"] == "all_capable_agents_busy"
    assert reason["details"] == {
        "agents": [
            {"agent_id": "worker", "state": "assigned", "task_id": running.id, "busy": False}
        ],
        "count": 1,
    }
    assert still_queued_after_a_pass(task)
    finish(running)
    assert dispatched_by_a_pass(task)


def test_busy_non_rejecters_keep_a_task_from_an_idle_rejecter(make_agent, submit):
    """The scheduler waits for an agent that has not rejected it: explain says busy."""
    make_agent("picky", online=True)
    other = make_agent("other", online=True)
    running = hold(other, "running", submit)
    task = submit("rejected")
    Task.objects.filter(pk=task.pk).update(rejected_by=["picky"])
    assert codes(task) == ["all_capable_agents_busy"]
    assert still_queued_after_a_pass(task)
    finish(running)
    assert dispatched_by_a_pass(task)
    assert Task.objects.get(pk=task.pk).holder.agent_id == "other"


def test_rejected_by_all_capable(make_agent, submit):
    picky = make_agent("picky", online=True)
    running = hold(picky, "running", submit)
    task = submit("rejected")
    Task.objects.filter(pk=task.pk).update(rejected_by=["picky"])
    assert codes(task) == ["rejected_by_all_capable"]
    assert still_queued_after_a_pass(task)
    finish(running)  # idle again, and no other capable agent: the rejection lapses
    assert dispatched_by_a_pass(task)


def test_held_off(make_agent, submit):
    make_agent("picky", online=True)
    task = submit("rejected")
    later = now_ms() + 60_000
    Task.objects.filter(pk=task.pk).update(rejected_by=["picky"], held_off={"picky": [2, later]})
    (reason,) = reasons(task)
    assert reason["code"] == "held_off"
    assert reason["details"] == {
        "agents": [{"agent_id": "picky", "until": later, "rejections": 2}],
        "count": 1,
    }
    assert still_queued_after_a_pass(task)
    Task.objects.filter(pk=task.pk).update(held_off={"picky": [2, now_ms() - 1]})
    assert dispatched_by_a_pass(task)


def test_pinned_agent_offline(make_agent, submit):
    away = make_agent("away")
    make_agent("other", online=True)
    task = submit("for away only", pinned_to=away)
    (reason,) = reasons(task)
    assert (reason["code"], reason["details"]) == ("pinned_agent_offline", {"agent_id": "away"})
    assert still_queued_after_a_pass(task)
    bring_online(away)
    assert dispatched_by_a_pass(task)


def test_pinned_agent_draining(make_agent, submit):
    pinned = make_agent("pinned", online=True)
    make_agent("other", online=True)
    services.set_draining("pinned", draining=True, actor=OPS)
    task = submit("for pinned only", pinned_to=pinned)
    assert codes(task) == ["pinned_agent_draining"]
    assert still_queued_after_a_pass(task)
    services.set_draining("pinned", draining=False, actor=OPS)
    assert dispatched_by_a_pass(task)


def test_deadline_passed(make_agent, submit):
    make_agent("worker", online=True)
    task = submit("late", complete_by=now() + timedelta(hours=1))
    Task.objects.filter(pk=task.pk).update(complete_by=now() - timedelta(seconds=1))
    assert codes(task) == ["deadline_passed"]
    assert still_queued_after_a_pass(task)
    Task.objects.filter(pk=task.pk).update(complete_by=now() + timedelta(hours=1))
    assert dispatched_by_a_pass(task)


def test_several_reasons_at_once(make_agent, submit):
    flow.pause(actor=OPS)
    task = submit("nobody can", needed_capabilities=["quantum"])
    assert codes(task) == ["paused", "no_agent_with_capabilities"]


def test_a_task_that_is_not_queued_names_its_state(make_agent, submit):
    worker = make_agent("worker", online=True)
    task = hold(worker, "mine", submit)
    (reason,) = reasons(task)
    assert (reason["code"], reason["details"]) == (
        "assigned",
        {"agent_id": "worker", "generation": 1},
    )
    finish(task)
    assert codes(task) == ["completed"]


def test_details_are_bounded(make_agent, submit):
    for i in range(explain.SHOWN + 5):
        make_agent(f"away-{i:02d}", capabilities=["rust"])
    task = submit("port it", needed_capabilities=["rust"])
    (reason,) = reasons(task)
    assert len(reason["details"]["agents"]) == explain.SHOWN
    assert reason["details"]["count"] == explain.SHOWN + 5
    assert reason["message"].endswith("and 5 more")


# --- over HTTP -----------------------------------------------------------------------------


def test_explain_over_http_for_any_reader(api_for, make_agent, submit):
    task = submit("nobody can", needed_capabilities=["quantum"])
    status, body = api_for("reader").get(f"/api/tasks/{task.id}/explain")
    assert status == 200
    assert (body["task_id"], body["status"]) == (task.id, "queued")
    assert [r["code"] for r in body["reasons"]] == ["no_agent_with_capabilities"]
    status, body = api_for("reader").get("/api/tasks/task-0000000000000000/explain")
    assert (status, body["error"]) == (404, "task_not_found")


def test_a_submission_nobody_can_take_is_accepted_with_a_warning(api_for, make_agent):
    make_agent("py-dev", capabilities=["py"])
    client = api_for("submitter")
    status, body = client.post(
        "/api/tasks", {"description": "x", "needed_capabilities": ["py", "cuda"]}
    )
    assert status == 201
    assert body["warnings"] == [
        {
            "code": "no_agent_with_capabilities",
            "message": "no registered agent has cuda; the task waits until one does",
        }
    ]
    assert Task.objects.filter(pk=body["task_id"], status="queued").exists()
    status, body = client.post("/api/tasks", {"description": "y", "needed_capabilities": ["py"]})
    assert (status, body["warnings"]) == (201, [])
    status, body = client.post(
        "/api/tasks/batch",
        {"tasks": [{"description": "a"}, {"description": "b", "needed_capabilities": ["cuda"]}]},
    )
    assert status == 201
    assert [len(entry["warnings"]) for entry in body["tasks"]] == [0, 1]
