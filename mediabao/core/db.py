"""One-statement upserts for the event path, where every database round trip counts.

Django's ``get_or_create``/``save`` pair costs a SELECT, a savepoint, an INSERT and an
UPDATE; ``bulk_create(ignore_conflicts=True)`` cannot say whether the row was new.
PostgreSQL's ``INSERT … ON CONFLICT … RETURNING`` does either in one round trip, and
the row it inserts or updates stays locked until commit, as ``select_for_update``
would keep it. Only identifiers from the model go into the SQL text (quoted); every
value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection
from django.db.models import Model


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
    meta = instance._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    params = [*cte_params, *(f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields)]
    action = "DO NOTHING"
    if update is not None:
        action = "DO UPDATE SET " + ", ".join(f"{quote(col)} = {expr}" for col, expr in update.items())
    columns = [meta.pk.column, *(c for c in returning if c != meta.pk.column)]
    back = ", ".join(f"{table}.{quote(c)}" for c in columns)
    sql = (f"{cte} INSERT INTO {table} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
           f"VALUES ({', '.join(['%s'] * len(fields))}) "
           f"ON CONFLICT ({', '.join(quote(c) for c in conflict)}) {action} "
           f"RETURNING {back}{', ' + extra_returning if extra_returning else ''}")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
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
