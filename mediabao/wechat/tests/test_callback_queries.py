"""What a push costs the database: the ingestion benchmark's hot path, kept honest.

A first-time subscribe is the most common event of a campaign day. It must stay at one
INSERT before ``success`` (the account itself is kept in the process for a moment), and
then, in the processor's batch, one fan upsert for the follows of all the batch's fans
(handlers run without a savepoint each unless one fails, see the registry). Handlers
that do not care about an event (channels for a plain first follow, campaigns without a
poster scene) skip it at no cost.
"""

from __future__ import annotations

import copy
import logging
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.test.utils import CaptureQueriesContext

from mediabao.fans.models import Fan
from mediabao.wechat import callbacks, kv, processing
from mediabao.wechat.messages import TextReply, parse_xml
from mediabao.wechat.models import Event, OfficialAccount
from mediabao.wechat.tests.test_callbacks import Push, subscribe_event, text_message

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("mediabao.wechat.tests.urls")]


def statements(ctx) -> list[str]:
    return [q["sql"].split()[0].upper() for q in ctx.captured_queries]


@pytest.fixture
def held(monkeypatch):
    """Pending events stay pending until the test runs the processor itself."""
    woken = []
    monkeypatch.setattr(processing, "wake", lambda: woken.append(1))
    return woken


def test_a_first_subscribe_is_one_insert_before_success(client, account, settings, held):
    settings.WECHAT_CALLBACK_ACCOUNT_SECONDS = 60
    push = Push(client, account)
    push.safe(subscribe_event(account, openid="oWARM"))
    with CaptureQueriesContext(connection) as ctx:
        response = push.safe(subscribe_event(account, scene="qrscene_42", openid="oFANX"))
    assert response.status_code == 200 and response.content == b"success"
    assert statements(ctx) == ["INSERT"] and len(held) == 2
    event = Event.objects.get(account=account, openid="oFANX")
    assert event.pending and not Fan.objects.filter(openid="oFANX").exists()

    with CaptureQueriesContext(connection) as ctx:
        assert processing.process_pending() == 2
    fan = Fan.objects.get(account=account, openid="oFANX")
    assert fan.subscribed and fan.qr_scene == "42" and fan.subscribe_scene == "ADD_SCENE_QR_CODE"
    assert fan.event_window_left == 3
    assert not Event.objects.filter(pending=True).exists()
    # BEGIN, lock, events, accounts, savepoint, both fans' upsert, release, done,
    # last_event_at, COMMIT
    assert statements(ctx).count("WITH") == 1 and len(ctx.captured_queries) <= 11


def test_a_burst_costs_a_few_statements_per_batch(client, account, held):
    """120 follows of distinct fans: their fan rows are one statement (the fans handler's
    batch form), whatever the count."""
    push = Push(client, account)
    for n in range(120):
        push.safe(subscribe_event(account, openid=f"oBURST{n:03d}"))
    with CaptureQueriesContext(connection) as ctx:
        assert processing.process_pending() == 120
    assert statements(ctx).count("WITH") == 1
    assert len(ctx.captured_queries) <= 11
    fans = Fan.objects.filter(openid__startswith="oBURST")
    assert fans.filter(subscribed=True, event_window_left=3).count() == 120


def test_a_returning_fan_also_lets_channels_close_a_missed_unfollow(client, account, held):
    push = Push(client, account)
    push.safe(subscribe_event(account, openid="oBACK"))
    processing.process_pending()
    Fan.objects.filter(openid="oBACK").update(subscribed=False)
    push.safe(subscribe_event(account, scene="", openid="oBACK").replace("1700000001", "1700000999"))
    with CaptureQueriesContext(connection) as ctx:
        processing.process_pending()
    # fans' upsert, then the channels handler's one UPDATE
    assert statements(ctx).count("WITH") == 1 and "UPDATE" in statements(ctx)
    assert len(ctx.captured_queries) <= 12
    assert Fan.objects.get(openid="oBACK").subscribed
    assert Fan.objects.get(openid="oBACK").subscribed


def test_a_changed_account_is_used_at_once(client, account, settings):
    """The kept account is forgotten when it is saved: new keys apply to the next push."""
    settings.WECHAT_CALLBACK_ACCOUNT_SECONDS = 60
    old = Push(client, copy.copy(account))
    assert old.safe(subscribe_event(account, openid="oONE")).status_code == 200
    account.callback_token = "rotatedToken123"
    account.save()
    assert old.safe(subscribe_event(account, openid="oTWO")).status_code == 403  # the old token
    new = Push(client, account)
    assert new.safe(subscribe_event(account, openid="oTWO")).status_code == 200
    account.delete()
    assert new.safe(subscribe_event(account, openid="oTHREE")).status_code == 404


def test_a_broker_outage_after_commit_is_not_a_500(client, account, handlers):
    """Deferred work that cannot be queued (the broker is down) is logged; WeChat still gets
    ``success`` for an event that is stored, instead of a 500 and a retry."""

    class Unreachable:
        @staticmethod
        def delay(*args, **kwargs):
            raise ConnectionError("broker unreachable")

    @handlers.on("subscribe")
    def defer_work(ctx):
        ctx.defer(Unreachable, ctx.openid)

    response = Push(client, account).safe(subscribe_event(account, openid="oOUTAGE"))
    assert response.status_code == 200 and response.content == b"success"
    assert Event.objects.filter(account=account, openid="oOUTAGE").count() == 1


def test_a_later_handler_failing_leaves_the_earlier_ones_effects_once(client, account, handlers, caplog):
    """Without savepoints the first failure rolls the whole event back; it runs again with
    one savepoint per handler: the earlier handler's writes and deferred work count once."""
    calls, deferred = [], []

    class Task:
        @staticmethod
        def delay(openid):
            deferred.append(openid)

    @handlers.on("subscribe", priority=1, replies=False)
    def first(ctx):
        calls.append("first")
        OfficialAccount.objects.filter(pk=ctx.account.pk).update(name=Concat(F("name"), Value("+")))
        ctx.defer(Task, ctx.openid)

    @handlers.on("subscribe", priority=2, replies=False)
    def broken(ctx):
        Fan.objects.filter(account=ctx.account).update(nickname="never")
        raise RuntimeError("handler boom")

    name = account.name
    with caplog.at_level(logging.ERROR), CaptureQueriesContext(connection) as ctx:
        response = Push(client, account).safe(subscribe_event(account, openid="oAGAIN"))
    assert response.status_code == 200 and response.content == b"success"
    assert calls == ["first", "first"]  # the optimistic run, then the isolated one
    account.refresh_from_db()
    assert account.name == name + "+"
    assert deferred == ["oAGAIN"]
    assert Event.objects.filter(account=account, openid="oAGAIN").count() == 1
    fan = Fan.objects.get(account=account, openid="oAGAIN")
    assert fan.subscribed and fan.nickname != "never"
    assert "handler boom" in caplog.text
    assert "ROLLBACK" in statements(ctx) and "SAVEPOINT" in statements(ctx)


def test_a_retry_of_an_event_nobody_replies_to_is_answered_at_once(client, account, handlers, held):
    """Stored pending, it is answered without a Redis key; its retries are answered at
    once by the unique constraint and it is handled once."""
    seen = []

    @handlers.on("subscribe", replies=False)
    def count(ctx):
        seen.append(ctx.openid)

    push = Push(client, account)
    body = subscribe_event(account, openid="oRETRY")
    assert push.safe(body).content == b"success"
    started = time.monotonic()
    assert push.safe(body).content == b"success"
    assert time.monotonic() - started < 1.0
    processing.process_pending()
    assert push.safe(body).content == b"success"
    processing.process_pending()
    assert seen == ["oRETRY"] and Event.objects.filter(openid="oRETRY").count() == 1
    assert not kv.client().exists(kv.key("dedup", account.appid, callbacks.dedup_key(
        parse_xml(body))))


def test_an_inline_event_runs_after_the_fans_pending_ones(client, account, handlers, held):
    """A keyword (answered inline) of a fan whose unfollow is still pending: the unfollow
    takes effect first, so every fan's events apply in the order they came."""
    order = []

    @handlers.on("unsubscribe", replies=False)
    def left(ctx):
        order.append(ctx.kind)

    @handlers.on("text", priority=1)
    def wrote(ctx):
        order.append(ctx.kind)
        return TextReply("好")

    push = Push(client, account)
    push.safe(subscribe_event(account, scene="", openid="oORDER").replace("subscribe", "unsubscribe"))
    response = push.safe(text_message(account, openid="oORDER"))
    assert push.decrypt_reply(response)["Content"] == "好"
    assert order == ["unsubscribe", "text"]
    assert not Event.objects.filter(pending=True).exists()


def test_a_failing_handler_in_a_batch_leaves_the_other_events_handled(client, account, handlers,
                                                                      caplog, held):
    @handlers.on("subscribe", replies=False)
    def picky(ctx):
        if ctx.openid == "oBAD":
            raise RuntimeError("one bad event")

    push = Push(client, account)
    for openid in ("oGOOD1", "oBAD", "oGOOD2"):
        push.safe(subscribe_event(account, openid=openid))
    with caplog.at_level(logging.ERROR):
        assert processing.process_pending() == 3
    assert "one bad event" in caplog.text
    assert set(Fan.objects.filter(subscribed=True).values_list("openid", flat=True)) >= {
        "oGOOD1", "oBAD", "oGOOD2"}  # the fans handler ran for the bad one too
    assert not Event.objects.filter(pending=True).exists()


def test_events_left_pending_by_a_dead_process_are_swept(client, account, held):
    from mediabao.wechat import tasks

    Push(client, account).safe(subscribe_event(account, openid="oLEFT"))
    assert tasks.process_pending_events() == 0  # young: its web process's thread has it
    Event.objects.filter(openid="oLEFT").update(received_at=F("received_at") - timedelta(seconds=30))
    assert processing.check_pending_events()["status"] == "ok"
    Event.objects.filter(openid="oLEFT").update(received_at=F("received_at") - timedelta(minutes=5))
    assert processing.check_pending_events() == {"status": "behind", "pending": 1,
                                                  "oldest_seconds": pytest.approx(330, abs=30)}
    assert tasks.process_pending_events() == 1
    assert Fan.objects.get(openid="oLEFT").subscribed
    assert processing.check_pending_events() == {"status": "ok", "pending": 0, "oldest_seconds": 0.0}


def test_an_event_a_handler_may_reply_to_keeps_the_pending_state(client, account, handlers):
    seen = []

    @handlers.on("subscribe")
    def peek(ctx):
        seen.append(kv.client().get(kv.key("dedup", ctx.account.appid, ctx.event.dedup_key)))

    Push(client, account).safe(subscribe_event(account, openid="oWAIT"))
    assert seen == [callbacks.PENDING]


def test_the_web_process_thread_handles_what_the_callback_stored(client, account, settings):
    settings.WECHAT_PROCESS_EVENTS = "thread"
    try:
        assert Push(client, account).safe(subscribe_event(account, openid="oTHREAD")).content == b"success"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not Fan.objects.filter(openid="oTHREAD").exists():
            time.sleep(0.05)
        assert Fan.objects.get(openid="oTHREAD").subscribed
        assert not Event.objects.filter(pending=True).exists()
    finally:
        processing._worker.stop()
    assert not processing._worker.thread.is_alive()
