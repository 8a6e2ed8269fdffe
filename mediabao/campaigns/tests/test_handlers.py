"""The event handlers: what counts as a fan the account knew before, and the reply."""

from __future__ import annotations

import pytest

from mediabao.campaigns import services, wechat_handlers
from mediabao.fans import wechat_handlers as fans_handlers
from mediabao.fans.models import Fan
from mediabao.fans.services import FOLLOWED_BEFORE
from mediabao.wechat.messages import TextReply
from mediabao.wechat.models import Event
from mediabao.wechat.registry import EventContext

pytestmark = pytest.mark.django_db


def ctx(acct, openid, scene, kind="subscribe"):
    event = Event(team=acct.team, account=acct, openid=openid, msg_type="event", event=kind,
                  dedup_key=f"{openid}{scene}")
    return EventContext(account=acct, event=event, message={}, kind=kind, openid=openid, scene=scene)


def follow(c: EventContext) -> EventContext:
    """The fans handler runs first on the real path and says whether the fan is new."""
    fans_handlers.fan_followed(c)
    return c


def test_known_fans_as_the_fans_handler_reports_them(acct):
    from django.utils import timezone

    assert follow(ctx(acct, "new", "ac_1_1")).extra[FOLLOWED_BEFORE] is False
    Fan.objects.create(team=acct.team, account=acct, openid="profile-only", subscribed=False)
    assert follow(ctx(acct, "profile-only", "ac_1_1")).extra[FOLLOWED_BEFORE] is False
    Fan.objects.create(team=acct.team, account=acct, openid="left", subscribed=False,
                       unsubscribe_time=timezone.now())
    assert follow(ctx(acct, "left", "ac_1_1")).extra[FOLLOWED_BEFORE] is True
    Fan.objects.create(team=acct.team, account=acct, openid="synced", subscribed=False, sync_generation=1)
    assert follow(ctx(acct, "synced", "ac_1_1")).extra[FOLLOWED_BEFORE] is True
    # The second follow of the same fan: known now.
    assert follow(ctx(acct, "new", "ac_1_1")).extra[FOLLOWED_BEFORE] is True


def test_poster_follow_without_the_fans_verdict_counts_nothing_under_protection(make_activity, acct):
    activity = make_activity()
    assert activity.protection
    inviter = services.join(activity, acct, "seed", nickname="小明")
    assert wechat_handlers.poster_follow(ctx(acct, "friend", inviter.scene)) is None
    inviter.refresh_from_db()
    assert inviter.invites == 0


def test_poster_follow_counts_and_welcomes(make_activity, acct):
    activity = make_activity()
    inviter = services.join(activity, acct, "seed", nickname="小明")
    first = follow(ctx(acct, "friend", inviter.scene))
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


@pytest.mark.django_db(transaction=True)
def test_the_event_never_locks_the_inviter_and_settling_batches(make_activity, acct):
    """Assists on one poster do not queue on the inviter's row: the event's transaction
    only records the assist; the count, tiers and notices move right after its commit,
    for every assist not yet settled at once."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from mediabao.campaigns.models import Assist

    activity = make_activity(tiers=((1, "贴纸", 5), (3, "笔记本", None)))
    inviter = services.join(activity, acct, "seed", nickname="小明")
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        reply = wechat_handlers.poster_follow(follow(ctx(acct, "friend-1", inviter.scene)))
        inside = len(captured.captured_queries)
    assert isinstance(reply, TextReply)
    in_event = [q["sql"] for q in captured.captured_queries[:inside]]
    assert not any("campaigns_participant" in sql and "invites" in sql and sql.startswith("UPDATE")
                   for sql in in_event), in_event
    assert len(in_event) <= 10, in_event
    inviter.refresh_from_db()
    assert (inviter.invites, inviter.tiers_completed) == (1, 1)  # settled after the commit
    # Two assists whose settle was lost (a process died after commit): one batch settles them.
    with transaction.atomic():
        for openid in ("friend-2", "friend-3"):
            follow(ctx(acct, openid, inviter.scene))
            Assist.objects.create(team=acct.team, activity=activity, inviter=inviter, account=acct,
                                  fan_openid=openid, counted=True, applied=False)
        transaction.set_rollback(False)
    inviter.refresh_from_db()
    assert inviter.invites == 1
    assert services.settle_pending() == 1
    inviter.refresh_from_db()
    assert (inviter.invites, inviter.tiers_completed) == (3, 2)
    keys = [k.rsplit(":", 1)[-1] if k.startswith("assist:") else k.split(":")[0]
            for k in inviter.notices.order_by("pk").values_list("key", flat=True)]
    assert keys == ["1", "tier", "2", "3", "tier"]  # each assist with its running count
    assert services.settle(inviter.pk) == 0  # nothing left: idempotent
