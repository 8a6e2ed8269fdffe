"""The answered-first INSERT and its group commit (wechat/intake.py), with real threads.

Each thread has its own database connection, as gunicorn's request threads do; rows are
committed for real (transactional test), and checked from the test's own connection.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mediabao.wechat import intake
from mediabao.wechat.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


def make_event(account, n: int, key: str | None = None) -> Event:
    openid = f"oINTAKE{n:08d}"
    payload = {"FromUserName": openid, "MsgType": "event", "Event": "subscribe",
               "CreateTime": str(1_700_000_000 + n), "EventKey": "qrscene_7"}
    return Event(team_id=account.team_id, account=account, openid=openid, msg_type="event",
                 event="subscribe", event_key="qrscene_7", payload=payload,
                 create_time=1_700_000_000 + n, dedup_key=key or f"e:{openid}:{n}:subscribe",
                 received_at=timezone.now())


def in_thread(func, *args):
    """Run ``func`` on a thread with its own connection; returns (thread, results list)."""
    out: list = []

    def run():
        try:
            out.append(func(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


@pytest.fixture
def gate(monkeypatch):
    """The first INSERT blocks until the test opens the gate; every INSERT is recorded."""
    real = intake._insert
    opened, entered = threading.Event(), threading.Event()
    calls: list[list[str]] = []

    def insert(events):
        calls.append([e.dedup_key for e in events])
        if len(calls) == 1:
            entered.set()
            assert opened.wait(10)
        real(events)

    monkeypatch.setattr(intake, "_insert", insert)
    gate = type("Gate", (), {"open": opened.set, "entered": entered, "calls": calls})
    return gate


def queued(count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(intake._group._queue) < count:
        assert time.monotonic() < deadline, "the followers never queued"
        time.sleep(0.005)


def test_pushes_arriving_during_an_insert_share_the_next_statement(account, gate):
    leader, led = in_thread(intake.store_pending, make_event(account, 0))
    assert gate.entered.wait(10)
    followers = [in_thread(intake.store_pending, make_event(account, n)) for n in range(1, 6)]
    queued(5)
    gate.open()
    for thread, _ in [(leader, led), *followers]:
        thread.join(10)
    assert led == [True] and all(out == [True] for _, out in followers)
    assert len(gate.calls) == 2 and len(gate.calls[1]) == 5  # the five followers: one statement
    rows = Event.objects.filter(account=account)
    assert rows.count() == 6 and all(rows.values_list("pending", flat=True))
    assert not intake._group._busy and not intake._group._queue


def test_a_retry_in_the_same_batch_is_stored_once(account, gate):
    leader, led = in_thread(intake.store_pending, make_event(account, 0))
    assert gate.entered.wait(10)
    same = [in_thread(intake.store_pending, make_event(account, 1, key="m:42")) for _ in range(3)]
    queued(3)
    gate.open()
    for thread, _ in [(leader, led), *same]:
        thread.join(10)
    assert sorted(out[0] for _, out in same) == [False, False, True]
    assert gate.calls[1] == ["m:42"]
    assert Event.objects.filter(account=account, dedup_key="m:42").count() == 1


def test_a_push_stored_before_is_a_duplicate(account):
    assert intake.store_pending(make_event(account, 1)) is True
    again = make_event(account, 1)
    assert intake.store_pending(again) is False and again.pk is None
    assert Event.objects.filter(account=account).count() == 1


def test_a_failed_statement_fails_every_push_in_it_and_the_next_ones_go_on(account, gate, monkeypatch):
    real = intake._insert

    def broken(events):
        if len(events) > 1:
            raise RuntimeError("database gone")
        real(events)

    leader, led = in_thread(intake.store_pending, make_event(account, 0))
    assert gate.entered.wait(10)
    monkeypatch.setattr(intake, "_insert", lambda events: (gate.calls.append(events), broken(events)))
    followers = [in_thread(intake.store_pending, make_event(account, n)) for n in (1, 2)]
    queued(2)
    gate.open()
    for thread, _ in [(leader, led), *followers]:
        thread.join(10)
    assert led == [True]
    assert all(isinstance(out[0], RuntimeError) for _, out in followers)  # a 500: WeChat retries
    assert intake.store_pending(make_event(account, 3)) is True  # the group is not stuck
    assert set(Event.objects.filter(account=account).values_list("openid", flat=True)) == {
        "oINTAKE00000000", "oINTAKE00000003"}


def test_a_follower_that_is_never_served_gives_up_and_leaves_the_queue(account, gate, monkeypatch):
    monkeypatch.setattr(intake, "FOLLOWER_WAIT_SECONDS", 0.2)
    leader, led = in_thread(intake.store_pending, make_event(account, 0))
    assert gate.entered.wait(10)
    follower, out = in_thread(intake.store_pending, make_event(account, 1))
    follower.join(5)
    assert isinstance(out[0], TimeoutError) and not intake._group._queue
    gate.open()
    leader.join(10)
    assert led == [True] and not intake._group._busy
    assert intake.store_pending(make_event(account, 2)) is True


def test_inside_a_transaction_the_row_is_the_callers(account):
    with pytest.raises(RuntimeError), transaction.atomic():
        assert intake.store_pending(make_event(account, 1)) is True
        raise RuntimeError("the caller fails")
    assert not Event.objects.filter(account=account).exists()


def test_one_push_is_one_statement(account, settings):
    for enabled in (True, False):
        settings.WECHAT_GROUP_COMMIT = enabled
        with CaptureQueriesContext(connection) as ctx:
            assert intake.store_pending(make_event(account, int(enabled))) is True
        assert [q["sql"].split()[0] for q in ctx.captured_queries] == ["INSERT"]
