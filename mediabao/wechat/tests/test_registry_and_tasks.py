"""Handler registry order and isolation; the retention prune (task function called directly,
not through a worker: it is plain database work, the queue adds nothing to test here)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mediabao.wechat import tasks
from mediabao.wechat.models import Event
from mediabao.wechat.registry import EventContext, Registry

pytestmark = pytest.mark.django_db


def make_ctx(account, kind="text"):
    event = Event.objects.create(team=account.team, account=account, openid="o1", msg_type=kind,
                                 dedup_key=f"k-{kind}")
    return EventContext(account=account, event=event, message={}, kind=kind, openid="o1")


def test_priority_then_registration_order_and_first_reply_wins(account):
    reg = Registry()
    order = []

    @reg.on("text", priority=50)
    def second(ctx):
        order.append("second")
        return "reply-2"

    @reg.on("*", priority=10)
    def first(ctx):
        order.append("first")

    @reg.on("TEXT", priority=50)
    def third(ctx):
        order.append("third")
        return "reply-3"

    assert reg.dispatch(make_ctx(account)) == "reply-2"
    assert order == ["first", "second", "third"]


def test_registering_twice_is_harmless_and_unregister_removes(account):
    reg = Registry()
    calls = []

    def handler(ctx):
        calls.append(1)

    reg.register("text", handler)
    reg.register("text", handler)
    reg.dispatch(make_ctx(account))
    assert calls == [1]
    reg.unregister(handler)
    assert reg.handlers_for("text") == []


def test_on_needs_a_kind():
    with pytest.raises(ValueError):
        Registry().on()


def test_prune_drops_only_events_past_retention(account, settings):
    settings.EVENT_RETENTION_DAYS = 30
    now = timezone.now()
    for i, age in enumerate([1, 29, 31, 400]):
        Event.objects.create(team=account.team, account=account, openid="o", msg_type="text",
                             dedup_key=str(i), received_at=now - timedelta(days=age))
    assert tasks.prune_events() == 2
    assert sorted((now - e.received_at).days for e in Event.objects.all()) == [1, 29]


def test_defer_queues_only_after_the_event_is_committed(account, django_capture_on_commit_callbacks):
    queued = []

    class FakeTask:  # stands in for a Celery task: only .delay is used
        @staticmethod
        def delay(*args, **kwargs):
            queued.append((args, kwargs))

    reg = Registry()

    @reg.on("subscribe")
    def later(ctx):
        ctx.defer(FakeTask, ctx.event.pk, scene="5")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ctx = make_ctx(account, "subscribe")
        reg.dispatch(ctx)
        assert queued == []  # nothing before commit
    assert len(callbacks) == 1 and queued == [((ctx.event.pk,), {"scene": "5"})]
