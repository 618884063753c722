"""Row locks on the hot path, without the ORM's query compiler.

Every task frame locks its task and agent rows by primary key. Building that SELECT
through a QuerySet costs ~0.4 ms of Python per call (the SQL itself ~0.03 ms); a
fixed statement per (model, condition) through `Model.objects.raw` keeps the model
instance (field converters, the FSM's conditional save) for about a third of that.
"""

from functools import lru_cache
from typing import Any, TypeVar

from django.db import DatabaseError, connection
from django.db.models import Model
from django_fsm import ConcurrentTransition, FSMFieldMixin

M = TypeVar("M", bound=Model)


@lru_cache(maxsize=64)
def _lock_sql(model: type[Model], where: str, skip_locked: bool) -> str:
    sql = f"SELECT * FROM {connection.ops.quote_name(model._meta.db_table)} WHERE {where}"
    features = connection.features
    if features.has_select_for_update:  # SQLite locks the whole database instead
        sql += " FOR UPDATE"
        if skip_locked and features.has_select_for_update_skip_locked:
            sql += " SKIP LOCKED"
    return sql


def lock_one(
    model: type[M], where: str, params: list[Any], *, skip_locked: bool = False
) -> M | None:
    """`SELECT * … WHERE <where> FOR UPDATE` (inside a transaction): the first row, or None.

    `where` is literal SQL with `%s` placeholders and quoted column names, written once
    by the caller; values always go through `params`.
    """
    rows = list(model.objects.raw(_lock_sql(model, where, skip_locked), params))
    return rows[0] if rows else None


def lock_by_pk(model: type[M], pk: Any) -> M | None:
    column = connection.ops.quote_name(model._meta.pk.column)
    return lock_one(model, f"{column} = %s", [pk])


# --- writes on the hot path ----------------------------------------------------------
# A lifecycle saves ~10 rows; `Model.save` spends ~0.5 ms of Python per row building the
# same UPDATE or INSERT again (field lists, the state filter of django-fsm's
# ConcurrentTransitionMixin, compilers). These build each statement once per model and
# field list and only convert the values on each call.


def _state_columns(model: type[Model]) -> tuple[str, ...]:
    """The columns django-fsm's ConcurrentTransitionMixin conditions an UPDATE on."""
    if not hasattr(model, "_update_initial_state"):
        return ()
    return tuple(f.attname for f in model._meta.concrete_fields if isinstance(f, FSMFieldMixin))


@lru_cache(maxsize=64)
def _update_plan(model: type[Model], names: tuple[str, ...]) -> tuple[str, tuple, tuple[str, ...]]:
    quote = connection.ops.quote_name
    fields = tuple(model._meta.get_field(name) for name in names)
    states = _state_columns(model)
    sets = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    where = " AND ".join(
        [f"{quote(model._meta.pk.column)} = %s", *(f"{quote(s)} = %s" for s in states)]
    )
    sql = f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {where}"
    return sql, fields, states


def save_fields(instance: Model, names: tuple[str, ...]) -> None:
    """`instance.save(update_fields=names)` as one fixed UPDATE, with its effects:
    `auto_now` fields are stamped, and on a django-fsm model with
    ConcurrentTransitionMixin the UPDATE is conditional on the state columns as the
    instance read them, raising ConcurrentTransition (and changing nothing) when they
    moved; a row that is gone raises DatabaseError, as `save` does.
    Sends no save signals (the hub has no receivers for its hot models)."""
    sql, fields, states = _update_plan(type(instance), names)
    params = [f.get_db_prep_save(f.pre_save(instance, False), connection) for f in fields]
    params.append(instance.pk)
    if states:
        initial = instance._ConcurrentTransitionMixin__initial_states  # type: ignore[attr-defined]
        params.extend(initial[state] for state in states)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        updated = cursor.rowcount
    if updated != 1:
        if states and type(instance)._base_manager.filter(pk=instance.pk).exists():
            raise ConcurrentTransition(f"{instance._meta.label} {instance.pk}: state moved")
        raise DatabaseError("Save with update_fields did not affect any rows.")
    if states:
        instance._update_initial_state()  # type: ignore[attr-defined]


@lru_cache(maxsize=64)
def _insert_plan(model: type[Model]) -> tuple[str, tuple, bool]:
    quote = connection.ops.quote_name
    meta = model._meta
    auto_pk = meta.pk.get_internal_type() in ("AutoField", "BigAutoField", "SmallAutoField")
    fields = tuple(f for f in meta.concrete_fields if not (auto_pk and f is meta.pk))
    columns = ", ".join(quote(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks})"
    returning = auto_pk and connection.features.can_return_columns_from_insert
    if returning:
        sql += f" RETURNING {quote(meta.pk.column)}"
    return sql, fields, auto_pk


def insert_row(instance: Model) -> None:
    """`instance.save(force_insert=True)` as one fixed INSERT; sets an auto primary key.
    Sends no save signals."""
    sql, fields, auto_pk = _insert_plan(type(instance))
    params = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if auto_pk:
            returned = connection.features.can_return_columns_from_insert
            instance.pk = cursor.fetchone()[0] if returned else cursor.lastrowid
    instance._state.adding = False
    instance._state.db = connection.alias
    if hasattr(instance, "_update_initial_state"):
        instance._update_initial_state()
