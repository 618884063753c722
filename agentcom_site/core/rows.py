"""Row locks and writes on the hot path, without the ORM's query compiler.

Every task frame locks its task and agent rows by primary key. Building that SELECT
through a QuerySet costs ~0.4 ms of Python per call (the SQL itself ~0.03 ms); a
fixed statement per (model, condition), its row turned into a model instance with the
ORM's own converters, keeps the instance (the FSM's conditional save) for a fraction.
"""

from collections.abc import Callable, Iterator
from datetime import datetime
from functools import lru_cache
from operator import methodcaller
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX
from django.db.models import Field, Model
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.utils.asyncio import async_unsafe
from django_fsm import ConcurrentTransition, ConcurrentTransitionMixin

from agentcom_site.core.transitions import state_fields_of

M = TypeVar("M", bound=Model)
R = TypeVar("R")

_one, _all = methodcaller("fetchone"), methodcaller("fetchall")


def _rowcount(cursor: Any) -> int:
    return cursor.rowcount


# --- executing a fixed statement --------------------------------------------------------
# Django's cursor costs ~30 µs of Python per statement on top of the driver: a wrapper
# object per cursor, a debug check, and on SQLite a regex rewriting `%s` into `?` every
# time. This module's statements are fixed strings, so they run on the driver's cursor
# with the rewrite done once per statement, keeping what the wrapper guarantees.


@lru_cache(maxsize=512)
def _qmark(sql: str) -> str:
    """`sql` in the qmark style of Python's sqlite3, as Django's SQLite cursor rewrites it."""
    return FORMAT_QMARK_REGEX.sub("?", sql).replace("%%", "%")


@async_unsafe
def _run(sql: str, params: list[Any], read: Callable[[Any], R]) -> R:
    """Executes one fixed statement (`%s` placeholders) on the default database and
    returns `read(cursor)`.

    As `connection.cursor()` would: the health check, connecting on first use, refusing
    a broken transaction, the driver's errors raised as `django.db` ones. While queries
    are recorded (DEBUG, `assertNumQueries`) or an execute wrapper is installed, the
    statement goes through Django's cursor so they see it."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.execute_wrappers or db.queries_logged:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return read(cursor)
    db.close_if_health_check_failed()
    if db.connection is None:
        db.ensure_connection()
    db.validate_no_broken_transaction()
    with db.wrap_database_errors:
        if db.vendor == "sqlite":
            cursor = db.connection.cursor()
            sql = _qmark(sql)
        else:
            cursor = db.create_cursor()
        try:
            cursor.execute(sql, params)
            return read(cursor)
        finally:
            cursor.close()


# For statements their callers write (literal SQL with `%s` placeholders, quoted names,
# values only in `params`); rows come back as the driver returns them.


def fetch_one(sql: str, params: list[Any]) -> tuple | None:
    return _run(sql, params, _one)


def fetch_all(sql: str, params: list[Any]) -> list[tuple]:
    return _run(sql, params, _all)


def execute_sql(sql: str, params: list[Any]) -> int:
    """Runs a statement; the number of rows it changed."""
    return _run(sql, params, _rowcount)


def _converters(model: type[Model], fields: list) -> tuple:
    """Per column, the ORM's converters from the database value to the field's value;
    () when no column has any (the rows are used as read)."""
    found = []
    for f in fields:
        col = f.get_col(model._meta.db_table)
        found.append(
            (col, (*connection.ops.get_db_converters(col), *col.get_db_converters(connection)))
        )
    return tuple(found) if any(functions for _, functions in found) else ()


@lru_cache(maxsize=64)
def _read_plan(model: type[Model]) -> tuple[str, tuple[str, ...], tuple]:
    """The column list of a whole row, its attribute names and its converters."""
    fields = model._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    return columns, tuple(f.attname for f in fields), _converters(model, fields)


@lru_cache(maxsize=64)
def _lock_sql(model: type[Model], where: str, skip_locked: bool) -> str:
    sql = _select_sql(model, where, "", None)
    features = connection.features
    if features.has_select_for_update:  # SQLite locks the whole database instead
        sql += " FOR UPDATE"
        if skip_locked and features.has_select_for_update_skip_locked:
            sql += " SKIP LOCKED"
    return sql


def lock_one(
    model: type[M], where: str, params: list[Any], *, skip_locked: bool = False
) -> M | None:
    """`SELECT <row> … WHERE <where> FOR UPDATE` (inside a transaction): the first row, or None.

    `where` is literal SQL with `%s` placeholders and quoted column names, written once
    by the caller; values always go through `params`. The row becomes a model instance
    as a QuerySet would make it (the same converters; see `from_row`).
    """
    row = _run(_lock_sql(model, where, skip_locked), params, _one)
    if row is None:
        return None
    return from_row(model, row)


def columns_of(model: type[Model], alias: str) -> str:
    """A whole row's columns (`alias`.`column`, …), in the order `from_row` reads them."""
    quote = connection.ops.quote_name
    return ", ".join(f"{quote(alias)}.{quote(f.column)}" for f in model._meta.concrete_fields)


def from_row(model: type[M], row: tuple | list) -> M:
    """The model instance for a row read as `columns_of(model)` (converted as the ORM does)."""
    _, names, converters = _read_plan(model)
    values = _converted(tuple(row), converters)
    if not _builds_directly(model):
        return model.from_db(DEFAULT_DB_ALIAS, names, values)
    # What `Model.__init__` does for a whole row, less its per-field loop (~30 µs for a
    # task's 60 fields): on a new instance each field's setattr lands in `__dict__`.
    instance = model.__new__(model)
    instance.__dict__.update(zip(names, values, strict=True))
    instance._state = ModelState()
    instance._state.adding = False
    instance._state.db = DEFAULT_DB_ALIAS
    _keep_states(instance)
    return instance


def _keep_states(instance: Model) -> None:
    """On a model with django-fsm's mixin: the state fields as they are now, which the
    next save is conditional on."""
    if isinstance(instance, ConcurrentTransitionMixin):
        instance._update_initial_state()


def new(model: type[M], /, **given: Any) -> M:
    """`model(**given)` for a row about to be inserted: the given fields (by name, a
    related instance for a foreign key, or by attname) and every other field's default.

    Built as `from_row` builds, when the model allows it; otherwise, or for a keyword
    that is not a concrete field, through `model(**given)` itself."""
    if not _builds_directly(model):
        return model(**given)
    instance = model.__new__(model)
    instance._state = ModelState()
    attributes = instance.__dict__
    taken = 0
    for name, attname, related, default in _new_plan(model):
        if name in given:
            value = given[name]
            taken += 1
            if related and value is not None:
                if not isinstance(value, Model):
                    return model(**given)  # the descriptor's own error
                # What the foreign key's descriptor does: the key's value, and the
                # instance kept so reading the relation costs no query.
                for local, remote in related:
                    attributes[local] = getattr(value, remote)
                instance._state.fields_cache[name] = value
                instance._state.db = instance._state.db or value._state.db or DEFAULT_DB_ALIAS
                continue
        elif attname in given:
            value = given[attname]
            taken += 1
        else:
            value = default()
        attributes[attname] = value
    if taken != len(given):  # a property, a reverse relation or a mistake: the ORM decides
        return model(**given)
    _keep_states(instance)
    return instance


@lru_cache(maxsize=64)
def _new_plan(model: type[Model]) -> tuple:
    """Per concrete field: its name, attname, the (local, remote) attnames of a foreign
    key (None for other fields) and its default."""
    return tuple(
        (
            f.name,
            f.attname,
            tuple((lh.attname, rh.attname) for lh, rh in f.related_fields)
            if f.many_to_one or f.one_to_one
            else None,
            f.get_default,
        )
        for f in model._meta.concrete_fields
    )


def _builds_directly(model: type[Model]) -> bool:
    """Whether an instance may skip `__init__`: its own does nothing more than Django's,
    and nothing listens to the init signals."""
    return (
        _builds_plainly(model)
        and not pre_init.has_listeners(model)
        and not post_init.has_listeners(model)
    )


@lru_cache(maxsize=64)
def _builds_plainly(model: type[Model]) -> bool:
    """Whether the model's `__init__` is Django's own (with django-fsm's mixin's, which
    only records the state fields): then an instance can be built from a row directly."""
    own = {Model.__init__, ConcurrentTransitionMixin.__init__}
    return all(
        "__init__" not in vars(cls) or vars(cls)["__init__"] in own
        for cls in model.__mro__
        if cls is not object
    )


def select(
    model: type[M], where: str, params: list[Any], *, order: str = "", limit: int | None = None
) -> list[M]:
    """`Model.objects.filter(…).order_by(…)[:limit]` as one fixed statement, no lock:
    whole rows as instances (`where` and `order` as for `lock_one`)."""
    found = _run(_select_sql(model, where, order, limit), params, _all)
    return [from_row(model, row) for row in found]


@lru_cache(maxsize=64)
def _select_sql(model: type[Model], where: str, order: str, limit: int | None) -> str:
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"SELECT {_read_plan(model)[0]} FROM {table} WHERE {where}"
    if order:
        sql += f" ORDER BY {order}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return sql


def lock_by_pk(model: type[M], pk: Any) -> M | None:
    column = connection.ops.quote_name(model._meta.pk.column)
    return lock_one(model, f"{column} = %s", [pk])


# --- writes on the hot path ----------------------------------------------------------
# A lifecycle saves ~10 rows; `Model.save` spends ~0.5 ms of Python per row building the
# same UPDATE or INSERT again (field lists, the state filter of django-fsm's
# ConcurrentTransitionMixin, compilers). These build each statement once per model and
# field list and only convert the values on each call.


# Field types whose database value is the Python value itself, on SQLite and Postgres,
# when that value is of the exact type named (an enum member or any other subclass still
# goes through the field, as the ORM would send it); None is NULL for every field. A
# lifecycle writes ~230 values; a field's own `get_db_prep_save` costs ~10 µs each.
_TEXT, _WHOLE, _FLAG = (str,), (int,), (bool,)
_AS_IS = {
    "CharField": _TEXT,
    "TextField": _TEXT,
    "SlugField": _TEXT,
    "IntegerField": _WHOLE,
    "BigIntegerField": _WHOLE,
    "SmallIntegerField": _WHOLE,
    "PositiveIntegerField": _WHOLE,
    "PositiveBigIntegerField": _WHOLE,
    "PositiveSmallIntegerField": _WHOLE,
    "AutoField": _WHOLE,
    "BigAutoField": _WHOLE,
    "BooleanField": _FLAG,
}


def _writer(field: Field) -> tuple[Field, str, tuple, bool, bool]:
    """How one field's value is written: (field, attname, types passed as they are,
    whether its `pre_save` does more than read the attribute, e.g. `auto_now`, whether
    it is a DateTimeField)."""
    kind = (field.target_field if field.is_relation else field).get_internal_type()
    stamps = type(field).pre_save is not Field.pre_save
    return field, field.attname, _AS_IS.get(kind, ()), stamps, kind == "DateTimeField"


def _params(instance: Model, writers: tuple, add: bool, db: Any) -> list[Any]:
    """The values of `writers` as `Model.save` would send them (`pre_save`, then
    `get_db_prep_save` unless the value needs no conversion). An aware datetime goes
    straight to the backend's adapter: the field's own preparation only checks that it
    is aware, and warns and converts when it is not."""
    params = []
    for field, attname, as_is, stamps, moment in writers:
        value = field.pre_save(instance, add) if stamps else getattr(instance, attname)
        if value is None or type(value) in as_is:
            params.append(value)
        elif moment and type(value) is datetime and value.tzinfo is not None:
            params.append(db.ops.adapt_datetimefield_value(value))
        else:
            params.append(field.get_db_prep_save(value, db))
    return params


def _state_columns(model: type[Model]) -> tuple[str, ...]:
    """The columns django-fsm's ConcurrentTransitionMixin conditions an UPDATE on."""
    if not issubclass(model, ConcurrentTransitionMixin):
        return ()
    return tuple(f.attname for f in state_fields_of(model))


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
    return sql, tuple(_writer(f) for f in fields), states


def save_fields(instance: Model, names: tuple[str, ...]) -> None:
    """`instance.save(update_fields=names)` as one fixed UPDATE, with its effects:
    `auto_now` fields are stamped, and on a django-fsm model with
    ConcurrentTransitionMixin the UPDATE is conditional on the state columns as the
    instance read them, raising ConcurrentTransition (and changing nothing) when they
    moved; a row that is gone raises DatabaseError, as `save` does.
    Sends no save signals (the hub has no receivers for its hot models)."""
    sql, writers, states = _update_plan(type(instance), names)
    params = _params(instance, writers, False, connections[DEFAULT_DB_ALIAS])
    params.append(instance.pk)
    if states:
        initial = instance._ConcurrentTransitionMixin__initial_states  # type: ignore[attr-defined]
        params.extend(initial[state] for state in states)
    if _run(sql, params, _rowcount) != 1:
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
    return sql, tuple(_writer(f) for f in fields), auto_pk


def _new_pk(cursor: Any) -> Any:
    """The primary key an INSERT made: its RETURNING row where the database has one."""
    if connection.features.can_return_columns_from_insert:
        return cursor.fetchone()[0]
    return cursor.lastrowid


def insert_row(instance: Model) -> None:
    """`instance.save(force_insert=True)` as one fixed INSERT; sets an auto primary key.
    Sends no save signals."""
    sql, writers, auto_pk = _insert_plan(type(instance))
    db = connections[DEFAULT_DB_ALIAS]
    params = _params(instance, writers, True, db)
    pk = _run(sql, params, _new_pk if auto_pk else _rowcount)
    if auto_pk:
        instance.pk = pk
    instance._state.adding = False
    instance._state.db = db.alias
    _keep_states(instance)


# --- small reads on the hot path -------------------------------------------------------


@lru_cache(maxsize=128)
def _values_sql(
    model: type[Model], columns: tuple[str, ...], where: str, order: str, limit: int | None
) -> tuple[str, tuple]:
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in columns]
    sql = f"SELECT {', '.join(quote(f.column) for f in fields)} FROM {quote(model._meta.db_table)}"
    if where:
        sql += f" WHERE {where}"
    if order:
        sql += f" ORDER BY {order}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return sql, _converters(model, fields)


def _converted(row: tuple, converters: tuple) -> tuple:
    if not converters:  # `_converters` found none for any column
        return row
    db = connections[DEFAULT_DB_ALIAS]
    values = []
    for value, (col, functions) in zip(row, converters, strict=True):
        for convert in functions:
            value = convert(value, col, db)
        values.append(value)
    return tuple(values)


def values(
    model: type[Model],
    columns: tuple[str, ...],
    where: str = "",
    params: list[Any] | tuple = (),
    *,
    order: str = "",
    limit: int | None = None,
    chunk: int | None = None,
) -> Iterator[tuple]:
    """`Model.objects.filter(…).order_by(…).values_list(*columns)[:limit]` as one fixed
    statement: rows of the named fields, converted as the ORM converts them.

    `where` and `order` are literal SQL with `%s` placeholders and quoted column names,
    written once by the caller; values always go through `params`. The rows are read
    `chunk` at a time while the caller iterates (all at once without `chunk`).
    """
    sql, converters = _values_sql(model, columns, where, order, limit)
    if not chunk:
        for row in _run(sql, list(params), _all):
            yield _converted(row, converters)
        return
    with connection.cursor() as cursor:  # held open while the caller iterates
        cursor.execute(sql, list(params))
        while True:
            rows = cursor.fetchmany(chunk)
            for row in rows:
                yield _converted(row, converters)
            if len(rows) < chunk:
                return


# --- one column set on many rows -------------------------------------------------------


def set_by_pks(model: type[Model], name: str, value: Any, pks: list[Any]) -> int:
    """`Model.objects.filter(pk__in=pks).update(**{name: value})` as one fixed UPDATE
    (no `auto_now` stamping, as `update` does none); returns the rows changed.
    Keep `pks` to a few hundred: each is a placeholder."""
    if not pks:
        return 0
    quote = connection.ops.quote_name
    field, pk = model._meta.get_field(name), model._meta.pk
    marks = ", ".join(["%s"] * len(pks))
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {quote(field.column)} = %s "
        f"WHERE {quote(pk.column)} IN ({marks})"
    )
    params = [field.get_db_prep_save(value, connection)]
    params.extend(pk.get_db_prep_value(p, connection) for p in pks)
    return _run(sql, params, _rowcount)
