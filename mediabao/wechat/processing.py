"""Events answered first, handled right after: the processor of pending events.

An event that no replying handler wants (a follow, an unfollow, a scan, a template
receipt: most of a campaign day's traffic) is stored with ``pending=True`` in one
autocommitted INSERT and WeChat gets ``success`` at once; its handlers run moments later
here, for many events in one transaction. An event a handler may answer (a keyword, a
follow through a campaign poster) still runs inline in the callback, after any pending
events of the same fan (:func:`run_pending_of_fan`), so every fan's events take effect in
the order they arrived.

Why: inline handlers cost a WeChat callback a transaction of its own (BEGIN, the
handlers' statements, COMMIT: round trips that, on a machine shared with PostgreSQL,
make the gateway several times slower than a bare view), and a slow handler risks
WeChat's 5-second limit and its retries. Stored first, the event is as durable as
before (committed before ``success``), and nothing is lost if a process dies: the
pending rows stay in the table.

Who runs it: each web process has one daemon thread that the callback wakes
(:func:`wake`, no round trip) and that handles batches until nothing is pending. Not the
Celery worker: its slots are held for minutes by send-job runners, and the fan table
must not wait for a send to finish. Beat's ``wechat.process_pending_events`` sweeps
every 10 s for events whose web process died before their turn. One batch runs at a
time across all processes (a PostgreSQL advisory lock), in the order of the event ids,
so handlers see each fan's events in order. ``WECHAT_PROCESS_EVENTS = "now"`` handles
them in the caller instead (tests, scripts).
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from mediabao.wechat.models import Event, OfficialAccount
from mediabao.wechat.registry import HandlerFailed, registry

log = logging.getLogger(__name__)

#: Events per transaction: large enough that a burst costs few commits, small enough
#: that a fan's inline event never waits long for the batch holding its earlier events.
BATCH = 200
#: pg_advisory_xact_lock key ("mb" + "ev"): one batch at a time across all processes.
LOCK_KEY = 0x6D62_6576
IDLE_WAIT_SECONDS = 5.0
#: Woken by a push, the thread waits this long for more before claiming a batch: a burst
#: then costs a batch's fixed statements (lock, claim, mark handled, commit) per many
#: events instead of per one or two, for a delay no fan notices.
LINGER_SECONDS = 0.05


def _layers(events: list[Event]) -> list[list[Event]]:
    """The events as layers of distinct fans: each fan's first event in the first layer,
    its second in the next, and so on; each layer keeps the events' order. Layers run one
    after another, so every fan's events still apply in the order they arrived."""
    layers: list[list[Event]] = []
    seen: dict[tuple[int, str], int] = {}
    for event in events:
        fan = (event.account_id, event.openid or f"#{event.pk}")
        depth = seen.get(fan, 0)
        seen[fan] = depth + 1
        if depth == len(layers):
            layers.append([])
        layers[depth].append(event)
    return layers


def _run(events: list[Event], accounts: dict[int, OfficialAccount], *, isolate: bool) -> None:
    """Every handler of every event. Isolated: event by event, a savepoint per handler.
    Else layer by layer of distinct fans, handler by handler, so a handler with a batch
    form (the fans table's follows) costs one statement for many events."""
    from mediabao.wechat.callbacks import context_for  # callbacks imports this module

    if isolate:
        for event in events:
            registry.dispatch(context_for(event, accounts[event.account_id]), isolate=True)
        return
    for layer in _layers(events):
        registry.dispatch_many([context_for(e, accounts[e.account_id]) for e in layer])


def _handled(events: list[Event]) -> None:
    Event.objects.filter(pk__in=[e.pk for e in events]).update(pending=False)


def _run_batch(events: list[Event], accounts: dict[int, OfficialAccount]) -> None:
    """Every handler of every event; the passive replies they return go nowhere (WeChat
    was answered already). Without a savepoint per handler first; one failure rolls the
    batch back to the start and it runs again isolated (see the registry)."""
    try:
        with transaction.atomic():
            _run(events, accounts, isolate=False)
    except HandlerFailed as exc:
        log.info("handler %s failed in a batch of %d events; running it isolated", exc, len(events))
        _run(events, accounts, isolate=True)


def process_batch(limit: int = BATCH) -> int:
    """Handle up to ``limit`` pending events, oldest first; returns how many."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        # SKIP LOCKED: rows an inline callback is handling for its fan right now
        events = list(Event.objects.filter(pending=True).order_by("id")
                      .select_for_update(skip_locked=True)[:limit])
        if not events:
            return 0
        accounts = OfficialAccount.objects.in_bulk({e.account_id for e in events})
        events = [e for e in events if e.account_id in accounts]
        _run_batch(events, accounts)
        _handled(events)
        _touch_accounts(events)
    return len(events)


def _touch_accounts(events: list[Event]) -> None:
    from mediabao.wechat.callbacks import touch_last_event

    latest: dict[int, object] = {}
    for event in events:
        latest[event.account_id] = max(latest.get(event.account_id, event.received_at),
                                       event.received_at)
    for account_id, at in latest.items():
        touch_last_event(account_id, at)


def process_pending(max_seconds: float = 60.0) -> int:
    """Batches until nothing is pending (or ``max_seconds``); returns the events handled."""
    deadline = time.monotonic() + max_seconds
    total = 0
    while time.monotonic() < deadline:
        done = process_batch()
        total += done
        if done < BATCH:
            break
    return total


def run_pending_of_fan(account: OfficialAccount, openid: str, *, isolate: bool) -> None:
    """Inside an inline callback's transaction, before its own event: this fan's events
    still pending, in order (waiting for a batch that holds them to finish)."""
    if not openid:
        return
    events = list(Event.objects.filter(account=account, openid=openid, pending=True)
                  .order_by("id").select_for_update())
    if not events:
        return
    _run(events, {account.pk: account}, isolate=isolate)
    _handled(events)


# --- the web process's thread -----------------------------------------------------------
class _Worker:
    def __init__(self) -> None:
        self.wanted = threading.Event()
        self.stopping = False
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def wake(self) -> None:
        self.wanted.set()
        if self.thread is None or not self.thread.is_alive():
            with self.lock:
                if self.thread is None or not self.thread.is_alive():
                    self.stopping = False
                    self.thread = threading.Thread(target=self._loop, name="wechat-events",
                                                   daemon=True)
                    self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the current batch and end the thread (tests; a process shutting down)."""
        thread = self.thread
        if thread is not None and thread.is_alive():
            self.stopping = True
            self.wanted.set()
            thread.join(timeout)

    def _loop(self) -> None:
        try:
            while not self.stopping:
                if not self.wanted.wait(IDLE_WAIT_SECONDS):
                    connection.close()  # idle: no connection kept open for nothing
                    continue
                time.sleep(LINGER_SECONDS)
                self.wanted.clear()
                try:
                    close_old_connections()
                    if process_pending():
                        self.wanted.set()  # look again: more may have come (or the time ran out)
                except Exception:
                    log.exception("processing pending WeChat events failed; retrying shortly")
                    connection.close()
                    time.sleep(1.0)
                    self.wanted.set()
        finally:
            connection.close()


_worker = _Worker()


def wake() -> None:
    """A pending event was stored: have it handled (see the module's docstring)."""
    if getattr(settings, "WECHAT_PROCESS_EVENTS", "thread") == "now":
        process_pending()
    else:
        _worker.wake()


def oldest_pending_age() -> float | None:
    """Seconds the oldest pending event has waited (health page, sweeper); None if none."""
    first = Event.objects.filter(pending=True).order_by("id").values_list("received_at", flat=True)[:1]
    at = next(iter(first), None)
    return None if at is None else (timezone.now() - at).total_seconds()


#: Pending longer than this: the worker is down or far behind (the health page says so).
BEHIND_SECONDS = 60.0


def check_pending_events() -> dict:
    """``/healthz`` (advisory): events answered but not handled yet, and the oldest's age."""
    age = oldest_pending_age()
    pending = Event.objects.filter(pending=True).count() if age is not None else 0
    status = "ok" if age is None or age < BEHIND_SECONDS else "behind"
    return {"status": status, "pending": pending, "oldest_seconds": round(age or 0.0, 1)}
