"""The processor's batches: layers of distinct fans, handler by handler, batch forms.

A batch may hold several events of one fan (a follow, an unfollow, a follow again):
they must apply in the order they arrived, and what the fans handler tells later
handlers (``followed before``) must be what the event-by-event path would have said.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mediabao.core.db import upsert_many
from mediabao.fans.models import Fan
from mediabao.fans.services import FOLLOWED_BEFORE
from mediabao.wechat import processing
from mediabao.wechat.models import Event
from mediabao.wechat.tests.test_callbacks import Push, xml_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("mediabao.wechat.tests.urls")]


def event_xml(account, openid: str, kind: str, at: int, scene: str = "") -> str:
    fields = {"ToUserName": "gh_test", "FromUserName": openid, "CreateTime": at,
              "MsgType": "event", "Event": kind}
    if kind == "subscribe":
        fields["EventKey"] = scene
    return xml_of(fields)


@pytest.fixture
def held(monkeypatch):
    monkeypatch.setattr(processing, "wake", lambda: None)


@pytest.fixture
def seen(handlers):
    """(openid, kind, followed before) as a late handler sees each event."""
    out: list[tuple[str, str, object]] = []

    @handlers.on("subscribe", "unsubscribe", priority=90, replies=False)
    def record(ctx):
        out.append((ctx.openid, ctx.kind, ctx.extra.get(FOLLOWED_BEFORE)))

    return out


def test_one_fans_events_in_one_batch_apply_in_order(client, account, held, seen, caplog):
    push = Push(client, account)
    sequence = [("oA", "subscribe", 1), ("oB", "subscribe", 2), ("oA", "unsubscribe", 3),
                ("oC", "subscribe", 4), ("oA", "subscribe", 5), ("oB", "unsubscribe", 6)]
    for openid, kind, at in sequence:
        assert push.safe(event_xml(account, openid, kind, 1_700_000_000 + at)).status_code == 200
    assert Event.objects.filter(pending=True).count() == 6
    assert processing.process_pending() == 6
    assert "isolated" not in caplog.text  # the batch path itself, not its fallback

    fans = {f.openid: f for f in Fan.objects.filter(account=account)}
    assert fans["oA"].subscribed and fans["oA"].subscribe_time == datetime.fromtimestamp(1_700_000_005, UTC)
    assert fans["oA"].unsubscribe_time is None
    assert not fans["oB"].subscribed and fans["oB"].unsubscribe_time is not None
    assert fans["oC"].subscribed
    # each fan's events in order; a returning follower "followed before", first follows not
    for openid in ("oA", "oB", "oC"):
        assert [(k, b) for o, k, b in seen if o == openid] == {
            "oA": [("subscribe", False), ("unsubscribe", None), ("subscribe", True)],
            "oB": [("subscribe", False), ("unsubscribe", None)],
            "oC": [("subscribe", False)],
        }[openid]
    assert not Event.objects.filter(pending=True).exists()


def test_a_returning_follower_in_a_batch_of_new_ones(client, account, held, seen):
    Fan.objects.create(team=account.team, account=account, openid="oOLD", subscribed=False,
                       unsubscribe_time=datetime(2026, 1, 1, tzinfo=UTC), tags=[3, 5])
    push = Push(client, account)
    for n, openid in enumerate(["oNEW1", "oOLD", "oNEW2"]):
        push.safe(event_xml(account, openid, "subscribe", 1_700_000_100 + n, scene="qrscene_9"))
    processing.process_pending()
    assert sorted(seen) == [("oNEW1", "subscribe", False), ("oNEW2", "subscribe", False),
                            ("oOLD", "subscribe", True)]
    old = Fan.objects.get(openid="oOLD")
    assert old.subscribed and old.qr_scene == "9" and old.tags == [3, 5]  # kept, not overwritten


def test_upsert_many_writes_every_kind_of_column(account):
    """JSON-like columns (arrays, here the tags) go through text; None stays None."""
    at = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    rows = [Fan(team=account.team, account=account, openid="oX1", tags=[], nickname="某某",
                subscribe_time=at),
            Fan(team=account.team, account=account, openid="oX2", tags=[1, 2], nickname="it's \"q\"",
                subscribe_time=None)]
    stored = upsert_many(rows, ("account_id", "openid"), {"nickname": "EXCLUDED.nickname"},
                         returning=("openid",))
    assert {openid for _pk, openid in stored} == {"oX1", "oX2"} and all(pk for pk, _ in stored)
    x1, x2 = Fan.objects.get(openid="oX1"), Fan.objects.get(openid="oX2")
    assert (x1.tags, x1.nickname, x1.subscribe_time) == ([], "某某", at)
    assert (x2.tags, x2.nickname, x2.subscribe_time) == ([1, 2], "it's \"q\"", None)
    again = upsert_many([Fan(team=account.team, account=account, openid="oX2", nickname="新")],
                        ("account_id", "openid"), {"nickname": "EXCLUDED.nickname"})
    assert again == [(x2.pk,)] and Fan.objects.get(pk=x2.pk).tags == [1, 2]


def test_unfollows_and_a_returning_plain_follow_close_channel_rows_in_one_batch(client, account, held):
    """Channels' batch forms: every open row of the batch's fans is closed at its event's
    time; rows that began after the event, and other fans' rows, stay open."""
    from mediabao.channels.models import Channel, ChannelFollow

    channel = Channel.objects.create(team=account.team, account=account, name="门店", scene_str="ch_b1",
                                     ticket="t", url="http://weixin.qq.com/q/x")
    opened = datetime(2023, 11, 1, tzinfo=UTC)

    def open_row(openid, at=opened):
        Fan.objects.create(team=account.team, account=account, openid=openid, subscribed=True,
                           subscribe_time=at)
        return ChannelFollow.objects.create(team=account.team, channel=channel, account=account,
                                            openid=openid, follow_day=at.date(), followed_at=at)

    rows = {o: open_row(o) for o in ("oU1", "oU2", "oBACK", "oSTAY")}
    later = open_row("oLATE", at=datetime(2030, 1, 1, tzinfo=UTC))
    push = Push(client, account)
    for n, (openid, kind) in enumerate([("oU1", "unsubscribe"), ("oU2", "unsubscribe"),
                                        ("oBACK", "subscribe"), ("oLATE", "unsubscribe")]):
        push.safe(event_xml(account, openid, kind, 1_700_000_200 + n))
    assert processing.process_pending() == 4
    for openid, n in (("oU1", 0), ("oU2", 1), ("oBACK", 2)):
        row = ChannelFollow.objects.get(pk=rows[openid].pk)
        assert row.unfollowed_at == datetime.fromtimestamp(1_700_000_200 + n, UTC)
        assert row.unfollow_day is not None
    assert ChannelFollow.objects.get(pk=rows["oSTAY"].pk).unfollowed_at is None
    assert ChannelFollow.objects.get(pk=later.pk).unfollowed_at is None  # began after the event
