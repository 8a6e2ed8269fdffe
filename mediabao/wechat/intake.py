"""The INSERT of an answered-first event: the one statement between a push and ``success``.

Every push that no replying handler wants costs exactly this (``wechat.processing``
handles it moments later), so it is written for the callback's hot path: the SQL text is
built once from the model, the values are taken from the unsaved :class:`Event` without
Django's per-field preparation, and concurrent pushes of one process share a statement.

Group commit: while one request thread's INSERT is at the database, pushes arriving on
the process's other threads queue up; when it returns, the first of them inserts the
whole queue in one multi-row ``INSERT … ON CONFLICT DO NOTHING`` (one round trip, one
commit) and hands over to the next. Each caller still returns only after its own row is
committed (or was a duplicate), so ``success`` keeps meaning "stored". Nothing waits on
purpose: with one push at a time, every batch holds one row. Inside a transaction (tests,
an inline caller) the row is inserted on the caller's own connection instead, so it
commits or rolls back with the caller.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from django.conf import settings
from django.db import connection
from psycopg.types.json import Jsonb

from mediabao.wechat.models import Event

#: The columns we write, by field name (the SQL uses each field's column).
_FIELDS = ("team", "account", "openid", "msg_type", "event", "event_key", "payload",
           "create_time", "dedup_key", "received_at", "pending")
#: Rows per statement at most (a burst's queue is rarely longer than the thread count).
MAX_ROWS = 64
#: A follower still queued after this long (something is stuck) leaves the queue and fails.
FOLLOWER_WAIT_SECONDS = 30.0


@functools.cache
def _sql(rows: int) -> str:
    meta = Event._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in _FIELDS)
    one = "(" + ", ".join(["%s"] * len(_FIELDS)) + ")"
    account, key = (quote(meta.get_field(n).column) for n in ("account", "dedup_key"))
    return (f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "  # noqa: S608 - names from the model
            f"{', '.join([one] * rows)} ON CONFLICT ({account}, {key}) DO NOTHING "
            f"RETURNING {quote(meta.pk.column)}, {account}, {key}")


def _values(event: Event) -> tuple[Any, ...]:
    return (event.team_id, event.account_id, event.openid, event.msg_type, event.event,
            event.event_key, Jsonb(event.payload), event.create_time, event.dedup_key,
            event.received_at, True)


def _insert(events: list[Event]) -> None:
    """One statement for ``events`` (distinct keys); sets ``pk`` on each row it stored."""
    params: list[Any] = []
    for event in events:
        params.extend(_values(event))
    with connection.cursor() as cursor:
        cursor.execute(_sql(len(events)), params)
        stored = {(account_id, key): pk for pk, account_id, key in cursor.fetchall()}
    for event in events:
        event.pk = stored.get((event.account_id, event.dedup_key))


class _Waiter:
    __slots__ = ("event", "done", "lead", "error")

    def __init__(self, event: Event) -> None:
        self.event = event
        self.done = threading.Event()
        self.lead = False
        self.error: BaseException | None = None


class _GroupCommit:
    """Leader/follower batching of one process's pending INSERTs (see the module)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Waiter] = []
        self._busy = False

    def store(self, event: Event) -> None:
        me = _Waiter(event)
        with self._lock:
            self._queue.append(me)
            if not self._busy:
                self._busy = me.lead = True
        if not me.lead and not me.done.wait(FOLLOWER_WAIT_SECONDS):
            with self._lock:  # no answer for a long time: leave the queue if still in it
                abandoned = not me.lead and me in self._queue
                if abandoned:
                    self._queue.remove(me)
            if abandoned:
                raise TimeoutError("the event's INSERT waited too long for its turn")
            me.done.wait()  # its batch is at the database, or it was just handed the lead
        if me.lead:
            self._lead()
        if me.error is not None:
            raise me.error

    def _lead(self) -> None:
        with self._lock:
            batch, self._queue = self._queue[:MAX_ROWS], self._queue[MAX_ROWS:]
        try:
            firsts: dict[tuple[int, str], _Waiter] = {}
            for waiter in batch:  # a duplicate delivery in the same batch: one row
                firsts.setdefault((waiter.event.account_id, waiter.event.dedup_key), waiter)
            _insert([w.event for w in firsts.values()])
        except BaseException as exc:  # every waiter of the batch fails (a 500: WeChat retries)
            for waiter in batch:
                waiter.error = exc
        finally:
            with self._lock:
                if self._queue:  # hand over to the first who came while we were at it
                    self._queue[0].lead = True
                    self._queue[0].done.set()
                else:
                    self._busy = False
            for waiter in batch:
                waiter.done.set()


_group = _GroupCommit()


def store_pending(event: Event) -> bool:
    """Insert ``event`` as pending and committed; False if it was stored before (a retry)."""
    event.pending = True
    if connection.in_atomic_block or not getattr(settings, "WECHAT_GROUP_COMMIT", True):
        _insert([event])
    else:
        _group.store(event)
    if event.pk is None:
        return False
    event._state.adding = False
    event._state.db = connection.alias
    return True
