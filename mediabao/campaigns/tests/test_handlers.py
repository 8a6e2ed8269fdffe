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
def test_the_inviters_row_is_locked_only_for_the_last_statements(make_activity, acct):
    """Every assist on one poster waits for the inviter's row: everything else is done
    before the UPDATE that takes the lock, so the queue moves at a few statements each."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    activity = make_activity(tiers=((1, "贴纸", 5), (3, "笔记本", None)))
    inviter = services.join(activity, acct, "seed", nickname="小明")

    def assist(openid: str) -> tuple[list[str], list[str]]:
        with CaptureQueriesContext(connection) as captured, transaction.atomic():
            reply = wechat_handlers.poster_follow(follow(ctx(acct, openid, inviter.scene)))
        assert isinstance(reply, TextReply)
        sqls = [q["sql"] for q in captured.captured_queries]
        lock = next(i for i, sql in enumerate(sqls)
                    if sql.startswith("UPDATE campaigns_participant SET invites"))
        return sqls, sqls[lock + 1:]

    sqls, under_lock = assist("friend-1")  # completes tier 1: stock, claim, tier mark, 2 notices
    assert len(under_lock) <= 10, under_lock
    sqls, under_lock = assist("friend-2")  # the common case: the notice, then COMMIT
    assert len(under_lock) <= 3, under_lock
    assert len(sqls) <= 14, sqls
    inviter.refresh_from_db()
    assert (inviter.invites, inviter.tiers_completed) == (2, 1)
    assert inviter.notices.count() == 3
