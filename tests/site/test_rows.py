"""The hot path's fixed statements (agentcom_site/core/rows.py) write and read what the
ORM would: the same columns, the same conversions, the same refusal of a moved row."""

from datetime import datetime
from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.db.models.signals import post_init
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext, isolate_apps
from django_fsm import ConcurrentTransition

from agentcom_site.core.clock import now
from agentcom_site.core.rows import (
    execute_sql,
    fetch_one,
    insert_row,
    lock_by_pk,
    new,
    save_fields,
    select,
    set_by_pks,
    values,
)
from agents.models import Agent, AgentState
from tasks.models import AttemptCost, Repo, Task, TaskEvent, capability_key

pytestmark = pytest.mark.django_db


def raw_row(model, pk) -> dict:
    """The stored row as the database holds it (no converters)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM {quote(model._meta.db_table)} "
            f"WHERE {quote(model._meta.pk.column)} = %s",
            [pk],
        )
        names = [col[0] for col in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def a_task(**fields) -> Task:
    return Task(
        description="write the report",
        title="report",
        submitted_by="ops",
        metadata={"nested": {"list": [1, 2.5, "ü"]}},
        needed_capabilities=["python", "code"],
        **fields,
    )


def test_insert_row_stores_what_save_stores():
    by_orm, by_rows = a_task(), a_task()
    by_rows.capability_key = capability_key(by_rows.needed_capabilities)  # Task.save does it
    by_orm.created_at = by_rows.created_at = now()
    by_orm.save(force_insert=True)
    insert_row(by_rows)

    orm, fixed = raw_row(Task, by_orm.pk), raw_row(Task, by_rows.pk)
    for row in (orm, fixed):
        row.pop("id")
        row.pop("updated_at")  # auto_now: stamped at each write
    assert fixed == orm
    assert not by_rows._state.adding
    assert Task.objects.get(pk=by_rows.pk).metadata == {"nested": {"list": [1, 2.5, "ü"]}}


def test_insert_row_sets_an_auto_primary_key():
    task = a_task()
    insert_row(task)
    event = TaskEvent(
        task=task, seq=1, event="queued", to_status="queued", actor="ops", generation=0
    )
    insert_row(event)
    assert event.pk is not None
    assert TaskEvent.objects.get(pk=event.pk).task_id == task.pk
    assert TaskEvent.objects.get(pk=event.pk).details == {}


def test_save_fields_writes_only_the_fields_named(make_agent):
    task = a_task()
    insert_row(task)
    agent = make_agent("worker", online=True)
    Task.objects.filter(pk=task.pk).update(description="changed elsewhere")
    with transaction.atomic():
        locked = lock_by_pk(Task, task.pk)
        locked.assign(agent)
        locked.result = {"kept": [1, 2]}
        save_fields(locked, Task.TRANSITION_FIELDS)

    stored = Task.objects.get(pk=task.pk)
    assert (stored.status, stored.holder_id, stored.generation) == ("assigned", agent.pk, 1)
    assert stored.result == {"kept": [1, 2]}
    assert stored.description == "changed elsewhere"  # not in the field list: untouched
    assert stored.updated_at > task.updated_at  # auto_now stamped


def test_save_fields_refuses_a_row_whose_state_moved(make_agent):
    agent = make_agent("worker", online=True)
    stale = Agent.objects.get(pk=agent.pk)  # read while idle
    Agent.objects.filter(pk=agent.pk).update(state=AgentState.OFFLINE)
    stale.take_task()
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        save_fields(stale, Agent.LIFECYCLE_FIELDS)
    assert Agent.objects.get(pk=agent.pk).state == AgentState.OFFLINE


def test_save_fields_refuses_a_row_that_is_gone():
    task = a_task()
    insert_row(task)
    Task.objects.filter(pk=task.pk).delete()
    task.progress = {"step": 2}
    with pytest.raises(DatabaseError):
        save_fields(task, ("progress",))


def test_a_saved_state_is_the_state_the_next_save_is_conditional_on(make_agent):
    agent = make_agent("worker", online=True)
    with transaction.atomic():
        locked = lock_by_pk(Agent, agent.pk)
        locked.take_task()
        save_fields(locked, Agent.LIFECYCLE_FIELDS)
        locked.start_working()
        save_fields(locked, Agent.LIFECYCLE_FIELDS)  # conditional on `assigned` now
    assert Agent.objects.get(pk=agent.pk).state == AgentState.WORKING


def test_values_reads_what_values_list_reads(make_agent):
    for n, capabilities in enumerate((["python"], [], ["code", "js"])):
        agent = make_agent(f"agent-{n}", capabilities=capabilities, online=True)
    Agent.objects.filter(pk=agent.pk).update(idle_since=None)  # NULLs sort as the ORM's do
    columns = ("id", "agent_id", "capabilities", "idle_since", "busy")
    expected = list(Agent.objects.order_by("idle_since", "pk").values_list(*columns))

    fixed = list(values(Agent, columns, order='"idle_since", "id"', chunk=2))

    assert fixed == expected
    by_id = {row[1]: row for row in fixed}
    assert by_id["agent-2"][2] == ["code", "js"]
    assert by_id["agent-0"][3].tzinfo is not None


def test_values_filters_orders_and_limits_with_parameters(make_agent):
    for name in ("b", "a", "c"):
        make_agent(name)
    found = values(Agent, ("agent_id",), '"agent_id" <> %s', ["c"], order='"agent_id"', limit=1)
    assert list(found) == [("a",)]


def test_lock_one_builds_the_instance_a_queryset_builds(make_agent):
    agent = make_agent("worker", capabilities=["python"], online=True)
    with transaction.atomic():
        locked = lock_by_pk(Agent, agent.pk)
    expected = Agent.objects.get(pk=agent.pk)
    for field in Agent._meta.concrete_fields:
        assert getattr(locked, field.attname) == getattr(expected, field.attname), field.name
    assert not locked._state.adding


def test_select_builds_the_instances_a_queryset_builds():
    for name, paused, budget in (("b", False, "2.50"), ("a", True, None), ("c", False, None)):
        Repo.objects.create(
            name=name, url=f"https://example.com/{name}.git", paused=paused, daily_budget_usd=budget
        )
    where = '"paused" = %s OR "daily_budget_usd" IS NOT NULL'

    found = select(Repo, where, [True], order='"name"')

    expected = list(Repo.objects.filter(name__in=["a", "b"]).order_by("name"))
    assert [r.name for r in found] == ["a", "b"]
    for got, want in zip(found, expected, strict=True):
        for field in Repo._meta.concrete_fields:
            assert getattr(got, field.attname) == getattr(want, field.attname), field.name
        assert not got._state.adding
    assert found[1].daily_budget_usd == Decimal("2.50")
    assert [r.name for r in select(Repo, where, [True], order='"name"', limit=1)] == ["a"]


def test_set_by_pks_stores_what_update_stores(make_agent):
    by_orm, first, second, untouched = (make_agent(name) for name in ("a", "b", "c", "d"))
    moment = now()
    before = raw_row(Agent, untouched.pk)["last_seen"]
    Agent.objects.filter(pk__in=[by_orm.pk]).update(last_seen=moment)

    assert set_by_pks(Agent, "last_seen", moment, [first.pk, second.pk]) == 2
    expected = raw_row(Agent, by_orm.pk)["last_seen"]
    assert raw_row(Agent, first.pk)["last_seen"] == expected
    assert raw_row(Agent, second.pk)["last_seen"] == expected
    assert raw_row(Agent, untouched.pk)["last_seen"] == before != expected
    assert set_by_pks(Agent, "last_seen", moment, []) == 0


# --- the driver's cursor keeps what Django's cursor guarantees -------------------------


def test_a_statement_refused_by_the_database_raises_djangos_error():
    insert_row(kept := a_task(capability_key=capability_key(["python", "code"])))
    duplicate = a_task(capability_key=capability_key(["python", "code"]))
    duplicate.id = kept.id
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_row(duplicate)
    assert Task.objects.filter(pk=kept.pk).count() == 1


def test_a_broken_transaction_is_refused_before_the_statement_runs():
    with transaction.atomic():
        insert_row(kept := a_task(capability_key="code"))
        transaction.set_rollback(True)
        connection.needs_rollback = True
        with pytest.raises(TransactionManagementError):
            lock_by_pk(Task, kept.pk)


def test_a_literal_percent_sign_survives_the_placeholder_rewrite():
    found = fetch_one("SELECT %s || '%%s' || %s", ["a", "b"])
    assert found == ("a%sb",)
    assert execute_sql("UPDATE tasks_task SET title = %s WHERE title LIKE '100%%'", ["x"]) == 0


def test_recorded_queries_see_the_fixed_statements(make_agent):
    agent = make_agent("seen")
    with CaptureQueriesContext(connection) as captured:
        lock_by_pk(Agent, agent.pk)
        set_by_pks(Agent, "status_text", "busy", [agent.pk])
    assert len(captured) == 2
    assert captured[0]["sql"].startswith('SELECT "id", "agent_id"')


# --- instances built from a row ----------------------------------------------------------


def fields_of(instance) -> dict:
    return {k: v for k, v in vars(instance).items() if k != "_state"}


def test_an_instance_from_a_row_is_the_one_the_orm_builds():
    insert_row(task := a_task(capability_key="code"))
    with transaction.atomic():
        built = lock_by_pk(Task, task.pk)
    by_orm = Task.objects.get(pk=task.pk)
    assert fields_of(built) == fields_of(by_orm)
    assert (built._state.adding, built._state.db) == (False, by_orm._state.db)
    # django-fsm's mixin has the state as read: a save after it moved changes nothing.
    Task.objects.filter(pk=task.pk).update(status="cancelled")
    built.title = "renamed"
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        save_fields(built, ("title",))


def test_an_instance_goes_through_init_while_someone_listens_to_it():
    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance)

    insert_row(task := a_task(capability_key="code"))
    post_init.connect(listener, sender=Task)
    try:
        with transaction.atomic():
            built = lock_by_pk(Task, task.pk)
    finally:
        post_init.disconnect(listener, sender=Task)
    assert seen == [built]


@isolate_apps("tasks")
def test_a_model_with_its_own_init_is_built_by_its_init():
    class Noted(models.Model):  # two columns of the repo table, in a registry of its own
        name = models.CharField(max_length=100)

        class Meta:
            app_label = "tasks"
            db_table = Repo._meta.db_table
            managed = False

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.noted = True

        def __str__(self) -> str:
            return self.name

    Repo.objects.create(name="n", url="https://example.com/n.git")
    (found,) = select(Noted, '"name" = %s', ["n"])
    assert (found.name, found.noted) == ("n", True)


# --- new instances ----------------------------------------------------------------------


def comparable(instance) -> dict:
    """The instance's attributes, its cached relations and its FSM state; not what each
    construction stamps anew (`now()` defaults, a generated id)."""
    found = {k: v for k, v in fields_of(instance).items() if not isinstance(v, datetime)}
    found.pop("id")
    found["cached"] = dict(instance._state.fields_cache)
    found["adding"] = (instance._state.adding, instance._state.db)
    return found


@pytest.mark.parametrize(
    ("model", "given"),
    [
        (Task, {"description": "d", "submitted_by": "ops", "priority": 1, "metadata": {"a": 1}}),
        (TaskEvent, {"seq": 1, "event": "queued", "to_status": "queued", "actor": "ops"}),
        (AttemptCost, {"generation": 1, "agent_id": "a", "model": "m", "tokens_in": 3}),
    ],
)
def test_a_new_instance_is_the_one_the_constructor_builds(model, given):
    if model is not Task:
        given = {"task": a_task(), **given}
    assert comparable(new(model, **given)) == comparable(model(**given))


def test_a_new_instance_keeps_its_related_instance_and_its_fsm_state():
    insert_row(task := a_task(capability_key="code"))
    event = new(TaskEvent, task=task, seq=1, event="queued", to_status="queued", actor="ops")
    assert event.task_id == task.pk
    with CaptureQueriesContext(connection) as queries:
        assert event.task is task
    assert not queries.captured_queries
    fresh = new(Task, description="d", submitted_by="ops")
    assert fresh._ConcurrentTransitionMixin__initial_states == {"status": "queued"}


def test_a_new_instance_by_attname_or_through_the_constructor_when_not_a_field():
    assert new(TaskEvent, task_id="t-1", seq=2).task_id == "t-1"
    with pytest.raises(TypeError, match="unexpected keyword"):
        new(TaskEvent, seq=1, not_a_field=True)
    with pytest.raises(ValueError, match="must be a"):
        new(TaskEvent, task="t-1")  # the foreign key's descriptor refuses a bare key


def test_a_new_instance_goes_through_init_while_someone_listens_to_it():
    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(listener, sender=TaskEvent)
    try:
        built = new(TaskEvent, seq=1)
    finally:
        post_init.disconnect(listener, sender=TaskEvent)
    assert seen == [built]
