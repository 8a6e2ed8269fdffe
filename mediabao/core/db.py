"""One-statement upserts for the event path, where every database round trip counts.

Django's ``get_or_create``/``save`` pair costs a SELECT, a savepoint, an INSERT and an
UPDATE; ``bulk_create(ignore_conflicts=True)`` cannot say whether the row was new.
PostgreSQL's ``INSERT … ON CONFLICT … RETURNING`` does either in one round trip, and
the row it inserts or updates stays locked until commit, as ``select_for_update``
would keep it. Only identifiers from the model go into the SQL text (quoted); every
value is a bound parameter.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.models import Field, Model


def _statement(model: type[Model], rows: str, conflict: tuple[str, ...],
               update: tuple[tuple[str, str], ...] | None, returning: tuple[str, ...], cte: str,
               extra_returning: str) -> str:
    """``cte INSERT INTO table (every column but the key) rows ON CONFLICT … RETURNING …``:
    what :func:`upsert` and :func:`upsert_many` share; ``rows`` is their VALUES or SELECT."""
    meta = model._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = ", ".join(quote(f.column) for f in meta.concrete_fields if not f.primary_key)
    action = "DO NOTHING"
    if update is not None:
        action = "DO UPDATE SET " + ", ".join(f"{quote(col)} = {expr}" for col, expr in update)
    back = ", ".join(f"{table}.{quote(c)}" for c in returning)
    return (f"{cte} INSERT INTO {table} ({columns}) {rows} "  # noqa: S608
            f"ON CONFLICT ({', '.join(quote(c) for c in conflict)}) {action} "
            f"RETURNING {back}{', ' + extra_returning if extra_returning else ''}")


@functools.cache
def _upsert_sql(model: type[Model], conflict: tuple[str, ...], update: tuple[tuple[str, str], ...] | None,
                returning: tuple[str, ...], cte: str, extra_returning: str) -> str:
    """The statement of :func:`upsert`, built once per shape."""
    count = sum(1 for f in model._meta.concrete_fields if not f.primary_key)
    values = f"VALUES ({', '.join(['%s'] * count)})"
    return _statement(model, values, conflict, update, returning, cte, extra_returning)


#: Field types whose database value is the attribute itself when it has this exact type
#: (or is None): Django's per-field preparation would only hand it back.
_PLAIN = {"CharField": str, "TextField": str, "BooleanField": bool, "IntegerField": int,
          "BigIntegerField": int, "SmallIntegerField": int, "PositiveIntegerField": int,
          "PositiveSmallIntegerField": int, "PositiveBigIntegerField": int, "ForeignKey": int}


_DEFERRED = object()


@functools.cache
def _preparers(model: type[Model]) -> tuple[tuple[Any, str, type | None], ...]:
    """(field, attname, plain type or None) of every column an upsert writes. An aware
    datetime is plain too, in a field that sets nothing itself (no ``auto_now``)."""
    out = []
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        kind = f.get_internal_type()
        plain = _PLAIN.get(kind) if type(f).pre_save is Field.pre_save else None
        if kind == "DateTimeField" and not (f.auto_now or f.auto_now_add):
            plain = datetime
        out.append((f, f.attname, plain))
    return tuple(out)


def _values(instance: Model) -> list[Any]:
    """The instance's column values as Django would write them (``pre_save`` and
    ``get_db_prep_save``), without the round through a field that would change nothing."""
    values = []
    attrs = instance.__dict__
    for field, attname, plain in _preparers(type(instance)):
        if plain is not None:
            value = attrs.get(attname, _DEFERRED)
            if value is None or (type(value) is plain and (  # (a deferred field: the long way)
                    plain is not datetime or value.tzinfo is not None)):
                values.append(value)
                continue
        values.append(field.get_db_prep_save(field.pre_save(instance, True), connection))
    return values


def _returning(model: type[Model], returning: Sequence[str]) -> tuple[str, ...]:
    pk = model._meta.pk.column
    return (pk, *(c for c in returning if c != pk))


def upsert(instance: Model, conflict: Sequence[str], update: Mapping[str, str] | None = None, *,
           returning: Sequence[str] = (), cte: str = "", cte_params: Sequence[Any] = (),
           extra_returning: str = "") -> tuple | None:
    """INSERT ``instance`` (every concrete field but the primary key); on a conflict on the
    ``conflict`` columns do nothing (``update=None``) or SET each column to its SQL
    expression (over the table's name and ``EXCLUDED``).

    Returns the ``returning`` columns (the primary key first, always) plus
    ``extra_returning`` of the inserted or updated row; None when a conflict did nothing.
    ``cte`` (``WITH …``) is put before the INSERT, with its own parameters first; it
    reads the snapshot taken before the statement.
    """
    model = type(instance)
    sql = _upsert_sql(model, tuple(conflict), None if update is None else tuple(update.items()),
                      _returning(model, returning), cte, extra_returning)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*cte_params, *_values(instance)])
        return cursor.fetchone()


def insert_or_skip(instance: Model, conflict: Sequence[str]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING: True (and ``instance.pk`` set) when the row is new."""
    row = upsert(instance, conflict)
    if row is None:
        return False
    instance.pk = row[0]
    instance._state.adding = False
    instance._state.db = connection.alias
    return True


def upsert_instance(instance: Model, conflict: Sequence[str], update: Mapping[str, str], *,
                    cte: str = "", cte_params: Sequence[Any] = (), extra_returning: str = ""
                    ) -> tuple[Model, tuple]:
    """:func:`upsert` returning the stored row as a model instance, plus the extra columns."""
    meta = instance._meta
    fields = [meta.pk, *(f for f in meta.concrete_fields if not f.primary_key)]
    row = upsert(instance, conflict, update, returning=[f.column for f in fields], cte=cte,
                 cte_params=cte_params, extra_returning=extra_returning)
    assert row is not None  # DO UPDATE always returns the row
    stored = type(instance).from_db(connection.alias, [f.attname for f in fields], row[:len(fields)])
    return stored, tuple(row[len(fields):])


def _as_text(field: Any) -> str:
    """How :func:`upsert_many` passes a column that an array of its type cannot carry:
    "json" (JSON as text, psycopg writes no jsonb[] literal of empty lists), "array" (a
    1-D array as JSON text: unnest would flatten a 2-D array), or "" (as it is)."""
    kind = field.get_internal_type()
    return "json" if kind == "JSONField" else "array" if kind == "ArrayField" else ""


def _text_value(kind: str, value: Any) -> str | None:
    if value is None:
        return None
    return value.dumps(value.obj) if kind == "json" else json.dumps(list(value))


def _select_expr(kind: str, name: str, field: Any) -> str:
    if kind == "json":
        return f"{name}::jsonb"
    if kind == "array":
        return (f"CASE WHEN {name} IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text("
                f"{name}::jsonb))::{field.cast_db_type(connection)} END")
    return name


@functools.cache
def _upsert_many_sql(model: type[Model], conflict: tuple[str, ...], update: tuple[tuple[str, str], ...],
                     returning: tuple[str, ...], cte: str, extra_returning: str) -> str:
    """:func:`upsert_many`'s statement: one array parameter per column (``unnest``), so
    its text and psycopg's parsing of it are the same for any number of rows."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    kinds = [_as_text(f) for f in fields]
    arrays = ", ".join(f"%s::{'text' if kind else f.cast_db_type(connection)}[]"
                       for f, kind in zip(fields, kinds, strict=True))
    names = ", ".join(f"c{i}" for i in range(len(fields)))
    select = ", ".join(_select_expr(kind, f"u.c{i}", f)
                       for i, (f, kind) in enumerate(zip(fields, kinds, strict=True)))
    rows = f"SELECT {select} FROM unnest({arrays}) AS u({names})"  # noqa: S608 - names from the model
    return _statement(model, rows, conflict, update, returning, cte, extra_returning)


def upsert_many(instances: Sequence[Model], conflict: Sequence[str], update: Mapping[str, str], *,
                returning: Sequence[str] = (), cte: str = "", cte_params: Sequence[Any] = (),
                extra_returning: str = "") -> list[tuple]:
    """:func:`upsert` with DO UPDATE for many rows of one model in one statement: the
    ``returning`` columns (the primary key first) plus ``extra_returning`` of every row, in
    no particular order. No two instances may share the ``conflict`` columns (PostgreSQL
    refuses to update a row twice in one statement)."""
    if not instances:
        return []
    model = type(instances[0])
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    sql = _upsert_many_sql(model, tuple(conflict), tuple(update.items()),
                           _returning(model, returning), cte, extra_returning)
    columns = zip(*(_values(instance) for instance in instances), strict=True)
    kinds = [_as_text(f) for f in fields]
    arrays = [[_text_value(kind, v) for v in column] if kind else list(column)
              for kind, column in zip(kinds, columns, strict=True)]
    with _binding_cursor() as cursor:
        cursor.execute(sql, [*cte_params, *arrays])
        return cursor.fetchall()


def _binding_cursor() -> Any:
    """A cursor with server-side binding: parameters go apart from the SQL, arrays in
    binary, where Django's default (client-side) cursor quotes every element into the
    text. Same connection, transaction and query logging as ``connection.cursor()``."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    return connection._prepare_cursor(ServerBindingCursor(connection.connection))
