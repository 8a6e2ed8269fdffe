"""One small, fully known history over 2026-03-01..03 (China time), built through the
fans and campaigns services, and the per-day figures it must give."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import transaction

from mediabao.campaigns import services as campaigns
from mediabao.campaigns.models import Activity, Participant, RewardClaim
from mediabao.channels.models import Channel, ChannelFollow
from mediabao.fans import services as fans
from mediabao.stats.tests.conftest import sh
from mediabao.wechat.models import OfficialAccount

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)

#: day → (new_fans, unfollows, net, joined, assists, tiers), whole team, every activity
TEAM = {D1: (3, 0, 3, 1, 0, 0), D2: (4, 0, 4, 1, 2, 1), D3: (1, 2, -1, 1, 0, 0)}
#: the same for the second account only
ACCT2 = {D1: (0, 0, 0, 0, 0, 0), D2: (1, 0, 1, 0, 0, 0), D3: (0, 0, 0, 0, 0, 0)}
#: the same for the first activity only (fans: those its posters brought)
ACTIVITY = {D1: (0, 0, 0, 1, 0, 0), D2: (2, 0, 2, 0, 2, 1), D3: (0, 1, -1, 1, 0, 0)}


@dataclass
class World:
    activity: Activity
    other_activity: Activity
    seed: Participant
    foreign_activity: Activity
    channel: Channel


def build(*, acct: OfficialAccount, acct2: OfficialAccount, other_acct: OfficialAccount,
          make_activity) -> World:
    # plain follows of the first account
    fans.record_subscribe(acct, "f1", sh(2026, 3, 1, 0, 0, 0))        # first second of 03-01
    fans.record_subscribe(acct, "f0", sh(2026, 2, 28, 23, 59, 59))    # last second before: out
    fans.record_subscribe(acct, "f3", sh(2026, 3, 1, 23, 59, 59))     # last second of 03-01
    fans.record_subscribe(acct, "f4", sh(2026, 3, 2, 7, 0))           # 03-01 23:00 UTC: still 03-02
    fans.record_subscribe(acct, "f5", sh(2026, 3, 1, 10))
    fans.record_unsubscribe(acct, "f5", sh(2026, 3, 3, 9))
    fans.record_subscribe(acct, "f6", sh(2026, 3, 1, 10))             # follows, leaves, returns:
    fans.record_unsubscribe(acct, "f6", sh(2026, 3, 2, 10))           # counted once, on 03-03
    fans.record_subscribe(acct, "f6", sh(2026, 3, 3, 8))
    fans.record_subscribe(acct, "f7", sh(2026, 3, 4, 0, 0, 0))        # first second after: out
    fans.record_subscribe(acct2, "g1", sh(2026, 3, 2, 12))
    fans.record_subscribe(other_acct, "x1", sh(2026, 3, 2, 12))       # another team: never

    # a campaign: seed A joins on 03-01, B and C assist on 03-02 (tier 1 at 2 invites),
    # B joins on 03-03, C unfollows on 03-03
    activity = make_activity(start=sh(2026, 2, 1), end=sh(2026, 4, 1), tiers=((2, "笔记本", None),))
    seed = campaigns.join(activity, acct, "seedA", nickname="阿甲", now=sh(2026, 3, 1, 9))
    Participant.objects.filter(pk=seed.pk).update(created_at=sh(2026, 3, 1, 9))
    for openid, at in (("fanB", sh(2026, 3, 2, 0, 30)), ("fanC", sh(2026, 3, 2, 7, 59))):
        with transaction.atomic():  # one event, as the gateway calls it (settled after commit)
            fans.record_subscribe(acct, openid, at)
            assert campaigns.record_assist(acct, openid, seed.scene, new_fan=True, at=at).counted
    # the claim is stamped with the wall clock: put it at the moment of the second assist
    assert RewardClaim.objects.filter(participant=seed).update(created_at=sh(2026, 3, 2, 7, 59)) == 1
    campaigns.join(activity, acct, "fanB", nickname="阿乙", now=sh(2026, 3, 3, 10))
    fans.record_unsubscribe(acct, "fanC", sh(2026, 3, 3, 11))
    with transaction.atomic():
        campaigns.record_unfollow(acct, "fanC", sh(2026, 3, 3, 11))

    # a second activity of the team: one seed joins on 03-02
    other = make_activity(name="夏季裂变", keyword="夏季", start=sh(2026, 2, 1), end=sh(2026, 4, 1))
    s2 = campaigns.join(other, acct, "seedZ", nickname="阿丙", now=sh(2026, 3, 2, 9))
    Participant.objects.filter(pk=s2.pk).update(created_at=sh(2026, 3, 2, 9))

    # another team's activity with a participant on 03-02: never counted
    foreign = make_activity(team=other_acct.team, accounts=[other_acct], keyword="外",
                            start=sh(2026, 2, 1), end=sh(2026, 4, 1))
    x = campaigns.join(foreign, other_acct, "x1", now=sh(2026, 3, 2, 9))
    Participant.objects.filter(pk=x.pk).update(created_at=sh(2026, 3, 2, 9))

    # a promo code of the first account: two follows on 03-02, one unfollow on 03-03
    channel = Channel.objects.create(team=acct.team, account=acct, name="门店海报", scene_str="ch_test1",
                                     ticket="t", url="http://weixin.qq.com/q/test1")
    for openid in ("c1", "c2"):
        ChannelFollow.objects.create(team=acct.team, channel=channel, account=acct, openid=openid,
                                     follow_day=D2, followed_at=sh(2026, 3, 2, 15))
    ChannelFollow.objects.filter(openid="c2").update(unfollowed_at=sh(2026, 3, 3, 15), unfollow_day=D3)
    return World(activity=activity, other_activity=other, seed=seed, foreign_activity=foreign,
                 channel=channel)


def rows(days) -> dict:
    return {d.day: (d.new_fans, d.unfollows, d.net, d.joined, d.assists, d.tiers) for d in days}
