"""The event handlers: what counts as a fan the account knew before, and the reply."""

from __future__ import annotations

import pytest

from mediabao.campaigns import services, wechat_handlers
from mediabao.fans.models import Fan
from mediabao.wechat.messages import TextReply
from mediabao.wechat.models import Event
from mediabao.wechat.registry import EventContext

pytestmark = pytest.mark.django_db


def ctx(acct, openid, scene, kind="subscribe"):
    event = Event(team=acct.team, account=acct, openid=openid, msg_type="event", event=kind,
                  dedup_key=f"{openid}{scene}")
    return EventContext(account=acct, event=event, message={}, kind=kind, openid=openid, scene=scene)


def test_known_fans(acct):
    unknown = ctx(acct, "new", "ac_1_1")
    wechat_handlers.remember_fan_history(unknown)
    assert unknown.extra[wechat_handlers.KNOWN_KEY] is False
    Fan.objects.create(team=acct.team, account=acct, openid="profile-only", subscribed=False)
    only = ctx(acct, "profile-only", "ac_1_1")
    wechat_handlers.remember_fan_history(only)
    assert only.extra[wechat_handlers.KNOWN_KEY] is False
    from django.utils import timezone

    Fan.objects.create(team=acct.team, account=acct, openid="left", subscribed=False,
                       unsubscribe_time=timezone.now())
    left = ctx(acct, "left", "ac_1_1")
    wechat_handlers.remember_fan_history(left)
    assert left.extra[wechat_handlers.KNOWN_KEY] is True
    other = ctx(acct, "x", "ch_abc")  # not a campaign scene: nothing recorded
    wechat_handlers.remember_fan_history(other)
    assert wechat_handlers.KNOWN_KEY not in other.extra


def test_poster_follow_counts_and_welcomes(make_activity, acct):
    activity = make_activity()
    inviter = services.join(activity, acct, "seed", nickname="小明")
    first = ctx(acct, "friend", inviter.scene)
    wechat_handlers.remember_fan_history(first)
    reply = wechat_handlers.poster_follow(first)
    assert isinstance(reply, TextReply) and "小明" in reply.content and "海报" in reply.content
    inviter.refresh_from_db()
    assert inviter.invites == 1
    scan = ctx(acct, "friend", inviter.scene, kind="scan")
    assert wechat_handlers.poster_follow(scan) is None
    assert wechat_handlers.poster_follow(ctx(acct, "y", "ac_garbage")) is None
    inviter.refresh_from_db()
    assert inviter.invites == 1
    text = wechat_handlers.join_keyword(ctx(acct, "z", "", kind="text"), "海报")
    assert isinstance(text, TextReply) and text.content == activity.rules
