"""Event handlers registered by feature apps; ``wechat`` itself imports none of them.

A feature app registers in a ``wechat_handlers`` module (imported by the gateway's
``AppConfig.ready`` for every installed app) or anywhere imported at startup::

    from mediabao.wechat.registry import on

    @on("subscribe", "SCAN")
    def remember_scene(ctx: EventContext) -> Reply | None: ...

Keys are event names for ``MsgType=event`` (``subscribe``, ``unsubscribe``, ``scan``,
``click``, ``view``, ``templatesendjobfinish``…, case-insensitive) and message types
otherwise (``text``, ``image``, ``voice``…); ``*`` receives everything. Handlers run in
order of ``priority`` then registration, in one transaction: the callback's for an event
a handler may answer, else a batch of ``wechat.processing`` moments after WeChat got
``success``. A failing handler is logged and rolled back alone, the others (and the
reply) go on. A handler that only cares about some events of a kind says so with
``when=`` (a cheap test of the context, no queries): events it skips cost nothing. The
first non-``None`` reply wins; a handler that never replies says ``replies=False``, and
an event that only such handlers want is answered at once and handled after (the
``when`` of a handler that may reply is asked before any handler runs, so it should
look at the message only, not at what earlier handlers left in ``ctx.extra``). Slow
work belongs on the queue: ``ctx.defer(task, *args)`` sends it once the event is
committed.

In the processor's batches, events of distinct fans run handler by handler
(:meth:`Registry.dispatch_many`), and a handler registered with ``batch=`` gets all the
events of a batch that want it in one call (one statement for many fans).

Isolation without a savepoint per handler (two round trips each): the gateway first
runs the handlers one after another (``isolate=False``); if one fails, the whole
transaction, the stored event included, is rolled back and everything runs again
with a savepoint around each handler (``isolate=True``), where the failure is logged
and the others go on. A handler therefore must not have effects outside the database
transaction other than through ``ctx.defer``/``on_commit``, which a rollback discards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import transaction

if TYPE_CHECKING:
    from mediabao.wechat.messages import Reply
    from mediabao.wechat.models import Event, OfficialAccount

log = logging.getLogger(__name__)
ANY = "*"
SLOW_HANDLER_SECONDS = 0.5


@dataclass
class EventContext:
    """What a handler gets: the account, the stored event and the parsed message."""

    account: OfficialAccount
    event: Event
    message: dict[str, Any]
    kind: str
    openid: str
    #: For subscribe/SCAN from a parametric QR code: the scene without ``qrscene_``.
    scene: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def defer(self, task: Any, *args: Any, **kwargs: Any) -> None:
        """Queue a Celery task after the event is committed (never lose, never run early)."""
        # robust: a broker outage after the commit is logged, never a 500 for WeChat to retry.
        transaction.on_commit(lambda: task.delay(*args, **kwargs), robust=True)


Handler = Callable[[EventContext], "Reply | None"]
#: A handler's form for many events of distinct fans at once (the processor's batches).
BatchHandler = Callable[[list[EventContext]], None]


Predicate = Callable[[EventContext], bool]


@dataclass(order=True)
class _Entry:
    priority: int
    seq: int
    func: Handler = field(compare=False)
    when: Predicate | None = field(default=None, compare=False)
    replies: bool = field(default=True, compare=False)
    batch: BatchHandler | None = field(default=None, compare=False)


class HandlerFailed(Exception):
    """A handler raised while running without isolation; the caller rolls back and runs
    the event again with ``isolate=True``."""


class Registry:
    def __init__(self) -> None:
        self._handlers: dict[str, list[_Entry]] = {}
        self._sorted: dict[str, list[_Entry]] = {}
        self._seq = 0

    def on(self, *kinds: str, priority: int = 100, when: Predicate | None = None,
           replies: bool = True, batch: BatchHandler | None = None) -> Callable[[Handler], Handler]:
        """Decorator: run ``func`` for these event kinds (lower priority runs first),
        only for events where ``when(ctx)`` is true if given; ``replies=False``: it
        never returns a passive reply; ``batch``: the same for many events of distinct
        fans in one go (it must leave what ``func`` would leave, ``ctx.extra`` included)."""
        if not kinds:
            raise ValueError("name at least one event kind, or '*'")

        def deco(func: Handler) -> Handler:
            for kind in kinds:
                self.register(kind, func, priority=priority, when=when, replies=replies,
                              batch=batch)
            return func

        return deco

    def register(self, kind: str, func: Handler, *, priority: int = 100,
                 when: Predicate | None = None, replies: bool = True,
                 batch: BatchHandler | None = None) -> None:
        entries = self._handlers.setdefault(kind.lower(), [])
        if any(e.func is func for e in entries):
            return  # re-imports (autoreload, tests) must not register twice
        self._seq += 1
        entries.append(_Entry(priority, self._seq, func, when, replies, batch))
        entries.sort()
        self._sorted.clear()

    def unregister(self, func: Handler) -> None:
        for entries in self._handlers.values():
            entries[:] = [e for e in entries if e.func is not func]
        self._sorted.clear()

    def _entries(self, kind: str) -> list[_Entry]:
        kind = kind.lower()
        entries = self._sorted.get(kind)
        if entries is None:  # (kept until the next register/unregister)
            entries = self._sorted[kind] = sorted(self._handlers.get(kind, []) + self._handlers.get(ANY, []))
        return entries

    def handlers_for(self, kind: str) -> list[Handler]:
        return [e.func for e in self._entries(kind)]

    def _wants(self, entry: _Entry, ctx: EventContext) -> bool:
        try:
            return entry.when is None or bool(entry.when(ctx))
        except Exception:
            log.exception("WeChat handler condition of %s failed for %s event %s",
                          getattr(entry.func, "__qualname__", entry.func), ctx.kind, ctx.event.pk)
            return False

    def may_reply(self, ctx: EventContext) -> bool:
        """Whether a handler that can reply wants this event, asked before any handler
        runs: a replying handler's ``when`` should look at the message only."""
        return any(entry.replies and self._wants(entry, ctx) for entry in self._entries(ctx.kind))

    def dispatch(self, ctx: EventContext, *, isolate: bool = True) -> Reply | None:
        """Run every handler of ``ctx.kind`` that wants the event (``when`` is asked just
        before the handler runs, after the earlier ones); return the first reply. With
        ``isolate`` (a savepoint each) it never raises; without, the first failure raises
        :class:`HandlerFailed` (see the module's docstring)."""
        reply = None
        for entry in self._entries(ctx.kind):
            if not self._wants(entry, ctx):
                continue
            func = entry.func
            started = time.monotonic()
            try:
                if isolate:
                    with transaction.atomic():
                        result = func(ctx)
                else:
                    result = func(ctx)
            except Exception as exc:
                if not isolate:
                    raise HandlerFailed(getattr(func, "__qualname__", str(func))) from exc
                log.exception("WeChat handler %s failed for %s event %s",
                              getattr(func, "__qualname__", func), ctx.kind, ctx.event.pk)
                continue
            finally:
                took = time.monotonic() - started
                if took > SLOW_HANDLER_SECONDS:  # WeChat gives up after 5 s: move it to the queue
                    log.warning("WeChat handler %s took %.2fs for %s; defer slow work with ctx.defer",
                                getattr(func, "__qualname__", func), took, ctx.kind)
            if reply is None and result is not None:
                reply = result
        return reply

    def dispatch_many(self, ctxs: list[EventContext]) -> None:
        """The processor's form of ``dispatch(isolate=False)`` for events of distinct fans
        (replies go nowhere): handler by handler, in priority order, over every event that
        wants it, once through its ``batch`` form where it has one. Each event still sees
        its own handlers in order; events of different fans do not depend on each other.
        The first failure raises :class:`HandlerFailed`."""
        plan: dict[tuple[int, int], tuple[_Entry, list[EventContext]]] = {}
        for ctx in ctxs:
            for entry in self._entries(ctx.kind):
                plan.setdefault((entry.priority, entry.seq), (entry, []))[1].append(ctx)
        for key in sorted(plan):
            entry, targets = plan[key]
            wanting = [ctx for ctx in targets if self._wants(entry, ctx)]
            if not wanting:
                continue
            try:
                if entry.batch is not None and len(wanting) > 1:
                    entry.batch(wanting)
                else:
                    for ctx in wanting:
                        entry.func(ctx)
            except Exception as exc:
                raise HandlerFailed(getattr(entry.func, "__qualname__", str(entry.func))) from exc


registry = Registry()
on = registry.on
