"""What a push costs the database: the ingestion benchmark's hot path, kept honest.

A first-time subscribe is the most common event of a campaign day. It must stay at:
BEGIN, the event INSERT, one savepoint around the fans handler's single upsert, COMMIT
(the account itself is kept in the process for a moment). Handlers that do not care
about an event (channels for a plain first follow, campaigns without a poster scene)
skip it without a savepoint.
"""

from __future__ import annotations

import copy

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mediabao.fans.models import Fan
from mediabao.wechat.models import Event
from mediabao.wechat.tests.test_callbacks import Push, subscribe_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("mediabao.wechat.tests.urls")]


def statements(ctx) -> list[str]:
    return [q["sql"].split()[0].upper() for q in ctx.captured_queries]


def test_a_first_subscribe_costs_six_round_trips(client, account, settings):
    settings.WECHAT_CALLBACK_ACCOUNT_SECONDS = 60
    push = Push(client, account)
    push.safe(subscribe_event(account, openid="oWARM"))  # the account's last_event_at moves once
    with CaptureQueriesContext(connection) as ctx:
        response = push.safe(subscribe_event(account, scene="qrscene_42", openid="oFANX"))
    assert response.status_code == 200
    assert statements(ctx) == ["BEGIN", "INSERT", "SAVEPOINT", "WITH", "RELEASE", "COMMIT"]
    fan = Fan.objects.get(account=account, openid="oFANX")
    assert fan.subscribed and fan.qr_scene == "42" and fan.subscribe_scene == "ADD_SCENE_QR_CODE"
    assert fan.event_window_left == 3
    assert Event.objects.filter(account=account, openid="oFANX").count() == 1


def test_a_returning_fan_also_lets_channels_close_a_missed_unfollow(client, account):
    push = Push(client, account)
    push.safe(subscribe_event(account, openid="oBACK"))
    Fan.objects.filter(openid="oBACK").update(subscribed=False)
    with CaptureQueriesContext(connection) as ctx:
        push.safe(subscribe_event(account, scene="", openid="oBACK").replace("1700000001", "1700000999"))
    # fans' upsert, then the channels handler's one UPDATE in its own savepoint
    assert statements(ctx).count("SAVEPOINT") == 2
    assert len(ctx.captured_queries) <= 10
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
