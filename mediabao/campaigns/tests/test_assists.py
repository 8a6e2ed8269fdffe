"""Assist rules of SPEC §5.3 on the service layer: counts, levels, tiers, stock, notices."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from mediabao.campaigns import services
from mediabao.campaigns.models import Assist, AwardTier, Notice, Participant, RewardClaim
from mediabao.wechat.models import OfficialAccount

pytestmark = pytest.mark.django_db


def seed(activity, account, openid="seed", nickname="小明"):
    return services.join(activity, account, openid, nickname=nickname)


def assist(account, inviter, openid, new_fan=True):
    return services.record_assist(account, openid, inviter.scene, new_fan=new_fan)


def test_a_new_follower_counts_once_with_level_and_notice(make_activity, acct):
    activity = make_activity(tiers=((3, "笔记本", None),))
    inviter = seed(activity, acct)
    result = assist(acct, inviter, "f1")
    assert result.counted and result.reason == "counted"
    inviter.refresh_from_db()
    assert inviter.invites == 1 and inviter.level == 1
    fan = Participant.objects.get(activity=activity, openid="f1")
    assert (fan.joined, fan.level, fan.inviter_id) == (False, 2, inviter.pk)
    notice = Notice.objects.get(participant=inviter)
    assert "为你助力成功，已邀请 1 人，还差 2 人可领取 笔记本" in notice.text
    # the same fan again (a retried or duplicated event), and through another inviter
    assert assist(acct, inviter, "f1").reason == "duplicate"
    other = seed(activity, acct, "seed2")
    assert assist(acct, other, "f1").reason == "duplicate"
    inviter.refresh_from_db()
    assert inviter.invites == 1 and Assist.objects.count() == 1


def test_fission_levels_follow_the_chain(make_activity, acct):
    activity = make_activity()
    a = seed(activity, acct, "a")
    assist(acct, a, "b")
    b = services.join(activity, acct, "b", nickname="B")
    assert b.level == 2 and b.joined and b.inviter_id == a.pk
    assist(acct, b, "c")
    assert Participant.objects.get(openid="c").level == 3


def test_protection_self_blacklist_and_time(make_activity, acct):
    activity = make_activity()
    inviter = seed(activity, acct)
    assert assist(acct, inviter, "old", new_fan=False).reason == "not_new"
    assert assist(acct, inviter, "seed").reason == "self"
    Participant.objects.create(team=activity.team, activity=activity, account=acct, openid="bad",
                               blacklisted=True)
    assert assist(acct, inviter, "bad").reason == "blacklisted"
    services.set_blacklisted(inviter, True)
    assert assist(acct, inviter, "f9").reason == "inviter_blacklisted"
    services.set_blacklisted(inviter, False)
    later = timezone.now() + timedelta(days=30)
    assert services.record_assist(acct, "f8", inviter.scene, new_fan=True, at=later).reason == "not_running"
    inviter.refresh_from_db()
    assert inviter.invites == 0 and not Assist.objects.exists()
    activity.protection = False
    activity.save()
    assert assist(acct, inviter, "old", new_fan=False).counted


def test_forged_scenes_are_ignored_and_logged(make_activity, acct, team_b, caplog):
    activity = make_activity()
    inviter = seed(activity, acct)
    theirs_acct = OfficialAccount.objects.create(team=team_b, appid="wxcampB00000000001", name="B")
    theirs = make_activity(team=team_b, accounts=[theirs_acct], keyword="B")
    their_p = seed(theirs, theirs_acct, "tb")
    other_acct = OfficialAccount.objects.create(team=acct.team, appid="wxcamp000000000002", name="A2")
    caplog.set_level(logging.WARNING, logger="mediabao.campaigns.services")
    for scene in ["ac_garbage", "ac_1", f"ac_{activity.pk}_999999", f"ac_999999_{inviter.pk}",
                  f"ac_{theirs.pk}_{their_p.pk}", f"ac_{activity.pk}_{their_p.pk}", "ac_" + "9" * 80,
                  f"ac_{activity.pk}_{inviter.pk}_x"]:
        assert services.record_assist(acct, "fx", scene, new_fan=True).reason == "forged", scene
    # a real scene of this team, but arriving on an account the activity is not bound to
    assert services.record_assist(other_acct, "fx", inviter.scene, new_fan=True).reason == "forged"
    assert not Assist.objects.exists()
    assert sum("campaign scene" in r.message for r in caplog.records) == 9


def test_tiers_take_stock_atomically_and_say_when_it_ran_out(make_activity, acct):
    activity = make_activity(tiers=((1, "贴纸", 1), (2, "杯子", None)))
    a, b = seed(activity, acct, "a"), seed(activity, acct, "b")
    assist(acct, a, "fa1")
    assist(acct, b, "fb1")
    tier1 = AwardTier.objects.get(activity=activity, level=1)
    assert tier1.remaining == 0
    assert RewardClaim.objects.filter(tier=tier1).count() == 1
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.tiers_completed == b.tiers_completed == 1
    won = Notice.objects.get(participant=a, key=f"tier:{tier1.pk}")
    assert "恭喜" in won.text and f"/c/{activity.pk}/oauth/" in won.text.replace("%2F", "/")
    assert Notice.objects.filter(participant=b, key=f"tier:{tier1.pk}", text__contains="已发完").exists()
    assist(acct, b, "fb2")
    b.refresh_from_db()
    assert b.tiers_completed == 2 and RewardClaim.objects.filter(participant=b).count() == 1
    assert "完成" in Notice.objects.filter(participant=b).order_by("-id").first().text


def test_unfollow_deducts_and_refollow_follows_protection(make_activity, acct):
    activity = make_activity(protection=False)
    inviter = seed(activity, acct)
    assist(acct, inviter, "f1")
    assert services.record_unfollow(acct, "f1") == 1
    inviter.refresh_from_db()
    assert inviter.invites == 0
    a = Assist.objects.get()
    assert a.unfollowed_at is not None and not a.counted
    assert Participant.objects.get(openid="f1").following is False
    assert Notice.objects.filter(participant=inviter, key__startswith="unfollow:").count() == 1
    assert services.record_unfollow(acct, "f1") == 0  # repeated unsubscribe: nothing more
    # protection off: coming back through the same poster counts again
    assert assist(acct, inviter, "f1", new_fan=False).reason == "recounted"
    inviter.refresh_from_db()
    assert inviter.invites == 1
    # protection on: a second round does not
    activity.protection = True
    activity.save()
    services.record_unfollow(acct, "f1")
    assert assist(acct, inviter, "f1", new_fan=False).reason == "duplicate"
    inviter.refresh_from_db()
    assert inviter.invites == 0


def test_unfollow_without_deduction_keeps_the_count(make_activity, acct):
    activity = make_activity(deduct_on_unfollow=False)
    inviter = seed(activity, acct)
    assist(acct, inviter, "f1")
    assert services.record_unfollow(acct, "f1") == 0
    inviter.refresh_from_db()
    assert inviter.invites == 1 and Assist.objects.get().unfollowed_at is not None


def test_anti_fraud_flags_or_blacklists_fast_inviters(make_activity, acct):
    activity = make_activity(fraud_max_per_minute=2, fraud_action="blacklist")
    inviter = seed(activity, acct)
    for n in range(3):
        assert assist(acct, inviter, f"f{n}").counted
    inviter.refresh_from_db()
    assert inviter.flagged and inviter.blacklisted and "3" in inviter.flag_reason
    assert assist(acct, inviter, "f9").reason == "inviter_blacklisted"
    assert inviter not in services.leaderboard(activity)


def test_quick_unfollow_share_flags_for_review(make_activity, acct):
    activity = make_activity(fraud_unfollow_percent=50, fraud_unfollow_minutes=10)
    inviter = seed(activity, acct)
    for n in range(6):
        assist(acct, inviter, f"f{n}")
    for n in range(4):
        services.record_unfollow(acct, f"f{n}")
    inviter.refresh_from_db()
    assert inviter.flagged and not inviter.blacklisted


def test_keyword_answers(make_activity, acct):
    now = timezone.now()
    assert services.keyword_answer(acct, "o", "海报") is None
    activity = make_activity(tiers=((2, "奖", 1),))
    answer = services.keyword_answer(acct, "o", " 海报 ")
    assert answer.send_card and answer.text == activity.rules and answer.activity == activity
    assert services.keyword_answer(acct, "o", "别的") is None
    Participant.objects.create(team=activity.team, activity=activity, account=acct, openid="bad",
                               blacklisted=True)
    bad = services.keyword_answer(acct, "bad", "海报")
    assert not bad.send_card and ("不能" in bad.text or "cannot" in bad.text)
    AwardTier.objects.filter(activity=activity).update(remaining=0)
    out = services.keyword_answer(acct, "o", "海报")
    assert not out.send_card
    make_activity(keyword="未开始", start=now + timedelta(days=1), end=now + timedelta(days=2))
    assert not services.keyword_answer(acct, "o", "未开始").send_card
    make_activity(keyword="已结束", start=now - timedelta(days=2), end=now - timedelta(days=1))
    ended = services.keyword_answer(acct, "o", "已结束")
    assert not ended.send_card and ended.text


def test_join_refuses_outside_time_and_blacklisted(make_activity, acct):
    now = timezone.now()
    activity = make_activity(start=now + timedelta(days=1), end=now + timedelta(days=2))
    with pytest.raises(services.CampaignError):
        services.join(activity, acct, "o1")
    running = make_activity(keyword="k2")
    Participant.objects.create(team=running.team, activity=running, account=acct, openid="bad",
                               blacklisted=True)
    with pytest.raises(services.CampaignError):
        services.join(running, acct, "bad")


def test_fill_never_raises():
    assert services.fill("{nickname} {invites}", nickname="A", invites=2) == "A 2"
    assert services.fill("{unknown} x", nickname="A") == " x"
    assert services.fill("{broken", nickname="A") == "{broken"
    assert services.unknown_placeholders("{nickname} {nope}") == ["nope"]
    assert services.unknown_placeholders("{") == ["{"]


def test_notices_are_delivered_once(make_activity, acct, monkeypatch):
    activity = make_activity()
    inviter = seed(activity, acct)
    assist(acct, inviter, "f1")
    notice = Notice.objects.get()
    sent = []
    monkeypatch.setattr("mediabao.messaging.notify.send_notice",
                        lambda account, openid, text: sent.append((openid, text)) or "custom")
    assert services.deliver_notice(notice.pk) == "custom"
    assert services.deliver_notice(notice.pk) == ""
    assert sent == [("seed", notice.text)]
    notice.refresh_from_db()
    assert notice.channel == "custom" and notice.sent_at
