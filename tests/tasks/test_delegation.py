"""Delegation (PROTOCOL.md §4.5): tasks a holder submits become children of its task,
within the depth and fan-out limits."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks import queue
from tasks.models import Task
from tests.conftest import Api

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder(assigned, agent_token):
    """An agent holding a task, and an Api acting as it: (task, Api)."""
    task, agent = assigned("lead")
    return task, Api(agent_token(agent))


def test_a_holder_submission_gets_its_task_as_parent(holder):
    parent, lead = holder
    status, body = lead.post("/api/tasks", {"description": "write the tests"})
    assert status == 201
    child = Task.objects.get(pk=body["task_id"])
    assert (child.parent_id, child.depth, child.submitted_by) == (parent.id, 1, "lead")
    status, record = lead.get(f"/api/tasks/{parent.id}")
    assert record["children"] == [{"id": child.id, "status": child.status}]
    assert record["parent"] is None
    assert lead.get(f"/api/tasks/{child.id}")[1]["parent"] == parent.id


def test_an_agent_holding_nothing_submits_a_task_without_parent(api_for):
    status, body = api_for("free").post("/api/tasks", {"description": "x"})
    assert status == 201 and Task.objects.get(pk=body["task_id"]).parent_id is None


def test_a_named_parent_must_be_held_by_the_agent(holder, submit, api_for):
    _, lead = holder
    other = submit("not theirs")
    before = Task.objects.count()
    status, body = lead.post("/api/tasks", {"description": "x", "parent": other.id})
    assert (status, body["error"], body["task_id"]) == (403, "not_assignee", other.id)
    status, body = api_for("free").post("/api/tasks", {"description": "x", "parent": other.id})
    assert (status, body["error"]) == (403, "not_assignee")
    assert Task.objects.count() == before


def test_an_agent_with_several_tasks_must_name_the_parent(make_agent, submit, agent_token):
    from tests.conftest import assign

    agent = make_agent("multi", online=True)
    first, second = submit("one"), submit("two")
    assign(first.id, agent)
    # a second slot: hold the other task as well (as an agent with more slots would)
    Task.objects.filter(pk=second.id).update(status="working", holder=agent, generation=1)
    api = Api(agent_token(agent))
    status, body = api.post("/api/tasks", {"description": "x"})
    assert status == 422 and body["errors"][0]["field"] == "parent"
    assert body["errors"][0]["error"] == "required"
    status, body = api.post("/api/tasks", {"description": "x", "parent": second.id})
    assert status == 201 and Task.objects.get(pk=body["task_id"]).parent_id == second.id


def test_the_children_limit(holder, settings):
    settings.AGENTCOM_DELEGATION_MAX_CHILDREN = 2
    parent, lead = holder
    for n in range(2):
        assert lead.post("/api/tasks", {"description": f"child {n}"})[0] == 201
    status, body = lead.post("/api/tasks", {"description": "one too many"})
    assert (status, body["error"], body["limit"]) == (409, "too_many_children", 2)
    assert parent.children.count() == 2
    # a batch is refused whole once an entry passes the limit
    settings.AGENTCOM_DELEGATION_MAX_CHILDREN = 3
    batch = {"tasks": [{"description": "a"}, {"description": "b"}]}
    status, body = lead.post("/api/tasks/batch", batch)
    assert (status, body["error"]) == (409, "too_many_children")
    assert parent.children.count() == 2


def test_the_depth_limit(settings, submit, make_agent, agent_token):
    from tests.conftest import assign

    settings.AGENTCOM_DELEGATION_MAX_DEPTH = 2
    top = submit("top")
    chain = [top]
    for level in (1, 2):
        agent = make_agent(f"level-{level}", online=True)
        assign(chain[-1].id, agent)
        status, body = Api(agent_token(agent)).post("/api/tasks", {"description": f"l{level}"})
        assert status == 201
        chain.append(Task.objects.get(pk=body["task_id"]))
    assert [t.depth for t in chain] == [0, 1, 2]
    deepest = make_agent("level-3", online=True)
    assign(chain[-1].id, deepest)
    status, body = Api(agent_token(deepest)).post("/api/tasks", {"description": "too deep"})
    assert (status, body["error"], body["limit"]) == (409, "delegation_too_deep", 2)
    assert not chain[-1].children.exists()


def test_children_may_be_pinned_routed_and_awaited(holder, make_agent):
    parent, lead = holder
    make_agent("helper")
    status, pinned = lead.post("/api/tasks", {"description": "p", "assign_to": "helper"})
    assert status == 201
    status, routed = lead.post("/api/tasks", {"description": "r", "needed_capabilities": ["gpu"]})
    assert status == 201
    status, follow = lead.post(
        "/api/tasks",
        {"description": "after both", "depends_on": [pinned["task_id"], routed["task_id"]]},
    )
    assert status == 201
    follow_task = Task.objects.get(pk=follow["task_id"])
    assert follow_task.waiting_on == 2 and follow_task.parent_id == parent.id
    assert Task.objects.get(pk=pinned["task_id"]).pinned_to.agent_id == "helper"


def test_an_operator_may_name_any_parent_or_none(operator_token, submit):
    ops = Api(operator_token)
    top = submit("top")
    status, body = ops.post("/api/tasks", {"description": "x", "parent": top.id})
    assert status == 201 and Task.objects.get(pk=body["task_id"]).parent_id == top.id
    status, body = ops.post("/api/tasks", {"description": "x", "parent": "task-ffffffffffffffff"})
    assert status == 422 and body["errors"][0] == {
        **body["errors"][0],
        "field": "parent",
        "error": "not_found",
    }
    status, body = ops.post("/api/tasks", {"description": "x"})
    assert Task.objects.get(pk=body["task_id"]).parent_id is None


def test_the_parent_completes_after_its_child(holder, make_agent):
    parent, lead = holder
    lead_agent = parent.holder
    _, body = lead.post("/api/tasks", {"description": "child"})
    child_id = body["task_id"]
    helper = make_agent("helper", online=True)
    from tests.conftest import assign

    child = assign(child_id, helper)
    queue.complete_task(child_id, helper, child.generation, result={"ok": 1})
    assert lead.get(f"/api/tasks/{parent.id}")[1]["children"] == [
        {"id": child_id, "status": "completed"}
    ]
    queue.complete_task(parent.id, lead_agent, parent.generation, result={})
    assert Task.objects.get(pk=parent.id).status == "completed"


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    parent=st.one_of(
        st.none(),
        st.text(max_size=200),
        st.integers(),
        st.booleans(),
        st.lists(st.text(max_size=3), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )
)
def test_hostile_parents_are_refused_cleanly(holder, parent):
    _, lead = holder
    status, body = lead.post("/api/tasks", {"description": "x", "parent": parent})
    assert status in (201, 403, 409, 422), body
    if status != 201:
        assert body["error"] in ("validation_failed", "not_assignee", "too_many_children")
