"""Daily roll-ups: the statistics read from them equal the live queries, day boundaries
in China time included; the periodic tasks and the backfill command keep them current."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mediabao.campaigns import stats as campaign_stats
from mediabao.campaigns.models import Assist, Participant, RewardClaim
from mediabao.channels import selectors as channel_selectors
from mediabao.channels.models import Channel, ChannelFollow, ChannelScan
from mediabao.channels.services import local_day
from mediabao.fans.models import Fan
from mediabao.stats import rollup, selectors
from mediabao.stats.models import DailyStat, RollupState
from mediabao.stats.tests.conftest import sh
from mediabao.stats.tests.scenario import D1, D3, TEAM, build, rows

pytestmark = pytest.mark.django_db

FIRST = date(2026, 5, 1)
DAYS = 12


def _instant(rng: random.Random) -> datetime:
    """A moment within FIRST..FIRST+DAYS, often a second either side of China midnight
    (16:00 UTC), where a UTC day and a China day disagree."""
    day = FIRST + timedelta(days=rng.randrange(DAYS))
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=8)
    pick = rng.random()
    if pick < 0.3:
        return midnight + timedelta(seconds=rng.choice((-1, 0, 1)))
    if pick < 0.45:  # UTC midnight: China 08:00
        return midnight + timedelta(hours=8, seconds=rng.choice((-1, 0)))
    return midnight + timedelta(seconds=rng.randrange(86400))


def generate(team, accounts, activities, *, seed: int = 6, fans: int = 400) -> list[Channel]:
    """Fans, participants, assists, claims and promo-code follows spread over DAYS days."""
    rng = random.Random(seed)
    channels = [Channel.objects.create(team=team, account=a, name=f"码{n}", scene_str=f"ch_gen{n}",
                                       ticket=f"t{n}", url=f"http://weixin.qq.com/q/g{n}")
                for n, a in enumerate(accounts)]
    fan_rows, follows, scans = [], [], []
    for n in range(fans):
        account = rng.choice(accounts)
        followed = _instant(rng)
        gone = followed + timedelta(hours=rng.randrange(1, 200)) if rng.random() < 0.3 else None
        activity = rng.choice([None, *activities])
        fan_rows.append(Fan(team=team, account=account, openid=f"gen{n}", subscribed=gone is None,
                            subscribe_time=followed, unsubscribe_time=gone,
                            source=Fan.Source.CAMPAIGN if activity else Fan.Source.OTHER,
                            source_ref=str(activity.pk) if activity else ""))
        if rng.random() < 0.25:
            channel = next(c for c in channels if c.account_id == account.pk)
            follows.append(ChannelFollow(team=team, channel=channel, account=account, openid=f"gen{n}",
                                         followed_at=followed, follow_day=local_day(followed),
                                         unfollowed_at=gone, unfollow_day=local_day(gone) if gone else None))
            scanned = _instant(rng)
            scans.append(ChannelScan(team=team, channel=channel, openid=f"gen{n}", scanned_at=scanned,
                                     scan_day=local_day(scanned)))
    Fan.objects.bulk_create(fan_rows)
    ChannelFollow.objects.bulk_create(follows)
    ChannelScan.objects.bulk_create(scans)
    for activity in activities:
        tiers = list(activity.tiers.all())
        for account in activity.accounts.all():
            seeds = []
            for n in range(30):
                joined = rng.random() < 0.7
                created = _instant(rng)
                seeds.append(Participant.objects.create(
                    team=team, activity=activity, account=account, openid=f"p{activity.pk}-{n}",
                    level=rng.randint(1, 4), joined=joined, created_at=created,
                    joined_at=created + timedelta(seconds=rng.randrange(0, 30000)) if joined else None))
            Assist.objects.bulk_create([
                Assist(team=team, activity=activity, inviter=rng.choice(seeds), account=account,
                       fan_openid=f"a{activity.pk}-{account.pk}-{n}", created_at=(at := _instant(rng)),
                       unfollowed_at=(at + timedelta(hours=rng.randrange(1, 60))
                                      if rng.random() < 0.2 else None))
                for n in range(80)])
            for p in rng.sample(seeds, 8):
                for tier in tiers:
                    RewardClaim.objects.create(team=team, tier=tier, participant=p, created_at=_instant(rng))
    return channels


@pytest.fixture
def generated(team_a, acct, acct2, make_activity):
    one = make_activity(name="甲", tiers=((2, "笔", None), (5, "本", None)), accounts=[acct, acct2])
    two = make_activity(name="乙", keyword="乙", tiers=((3, "杯", None),))
    channels = generate(team_a, [acct, acct2], [one, two])
    return {"activities": [one, two], "accounts": [acct, acct2], "channels": channels}


def _same(team, start, end, **scope) -> None:
    rolled = selectors.report(team, start, end, **scope)
    live = selectors.report(team, start, end, live=True, **scope)
    assert rows(rolled.days) == rows(live.days), scope
    assert rolled.totals.as_dict() == live.totals.as_dict()
    assert rolled.channels == live.channels
    assert [vars(i) for i in rolled.top_inviters] == [vars(i) for i in live.top_inviters]
    assert rolled.levels == live.levels


def test_rollup_equals_live_for_every_scope(generated, team_a):
    last = rollup.build(team_a.pk)
    assert last == selectors.today()
    assert DailyStat.objects.filter(team=team_a).count() > DAYS
    assert rollup.rolled_until(team_a.pk) > FIRST + timedelta(days=DAYS)
    end = FIRST + timedelta(days=DAYS)
    one, two = generated["activities"]
    a1, a2 = generated["accounts"]
    scopes = [{}, {"account": a1}, {"account": a2}, {"activity": one}, {"activity": two},
              {"account": a2, "activity": one}]
    for scope in scopes:
        _same(team_a, FIRST - timedelta(days=1), end, **scope)
        _same(team_a, FIRST + timedelta(days=3), FIRST + timedelta(days=5), **scope)
    rep = selectors.report(team_a, FIRST, end)
    assert rep.totals.new_fans > 0 and rep.totals.assists > 0 and rep.totals.tiers > 0
    # The activity page's table and the promo-code pages read them too.
    for activity in (one, two):
        assert campaign_stats.daily(activity) == campaign_stats.daily(activity, live=True)
        assert sum(r["assists"] for r in campaign_stats.daily(activity)) == activity.assists.count()
    for channel in generated["channels"]:
        got = channel_selectors.stats(channel, FIRST, end)
        want = channel_selectors.stats(channel, FIRST, end, live=True)
        assert [vars(d) for d in got.days] == [vars(d) for d in want.days]
        assert got.totals.new > 0


def test_the_known_history_reads_the_same_from_rollups(acct, acct2, other_acct, make_activity, team_a,
                                                       team_b):
    world = build(acct=acct, acct2=acct2, other_acct=other_acct, make_activity=make_activity)
    rollup.build(team_a.pk)
    rollup.build(team_b.pk)
    rep = selectors.report(team_a, D1, D3)
    assert rows(rep.days) == TEAM
    assert selectors.report(team_a, D1, D3, activity=world.activity).totals.assists == 2
    # Another team's rows never leak into this team's roll-ups.
    assert not DailyStat.objects.filter(team=team_a, account__team=team_b).exists()


def test_settled_days_are_read_from_the_rollup_not_the_rows(generated, team_a):
    rollup.build(team_a.pk)
    end = FIRST + timedelta(days=DAYS)
    with CaptureQueriesContext(connection) as ctx:
        selectors.report(team_a, FIRST, end, daily_only=True)
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    assert "stats_dailystat" in sql
    assert "fans_fan" not in sql and "campaigns_assist" not in sql


def test_recent_days_stay_live_and_the_minute_task_rolls_them(generated, team_a, acct):
    rollup.build(team_a.pk)
    today = selectors.today()
    Fan.objects.create(team=team_a, account=acct, openid="now1", subscribe_time=timezone.now())
    # Today is counted live: the new follower shows at once.
    assert selectors.report(team_a, today, today).totals.new_fans == 1
    assert rollup.refresh_recent() == {team_a.pk: "recent"}
    assert DailyStat.objects.get(account=acct, activity=None, day=today).new_fans == 1
    assert RollupState.objects.get(team=team_a).complete_before == today + timedelta(days=1)


def test_a_team_never_rolled_up_is_live_then_caught_up_in_chunks(generated, team_a):
    assert rollup.rolled_until(team_a.pk) == date.min
    Fan.objects.filter(openid="gen0").update(subscribe_time=timezone.now())  # activity today
    first = rollup.first_day(team_a.pk)
    assert first is not None and first <= FIRST
    rollup.refresh_recent()
    state = RollupState.objects.get(team=team_a)
    assert state.complete_before == first + timedelta(days=rollup.CATCH_UP_CHUNK)
    for _ in range(20):
        rollup.refresh_recent()
    assert RollupState.objects.get(team=team_a).complete_before > selectors.today()
    _same(team_a, FIRST, FIRST + timedelta(days=DAYS))


def test_settle_brings_a_moved_day_back_in_line(acct, team_a):
    now = timezone.now()
    old = now - timedelta(days=10)
    fan = Fan.objects.create(team=team_a, account=acct, openid="back", subscribe_time=old)
    rollup.build(team_a.pk)
    day = selectors.today() - timedelta(days=10)
    assert selectors.report(team_a, day, day).totals.new_fans == 1
    # The fan unfollowed and followed again today: the live query moves them to today.
    Fan.objects.filter(pk=fan.pk).update(subscribe_time=now)
    assert selectors.report(team_a, day, day, live=True).totals.new_fans == 0
    assert selectors.report(team_a, day, day).totals.new_fans == 1  # frozen until settled
    assert rollup.settle() == 1
    assert selectors.report(team_a, day, day).totals.new_fans == 0


def test_backfill_command(generated, team_a, team_b):
    call_command("stats_rollup", "--team", str(team_a.pk), "--all")
    assert RollupState.objects.filter(team=team_a).exists()
    _same(team_a, FIRST, FIRST + timedelta(days=DAYS))
    before = DailyStat.objects.filter(team=team_a).count()
    call_command("stats_rollup", "--team", str(team_a.pk), "--start", FIRST.isoformat(),
                 "--end", (FIRST + timedelta(days=3)).isoformat())
    assert DailyStat.objects.filter(team=team_a).count() == before  # idempotent
    call_command("stats_rollup")  # every team, from where each one stands
    assert RollupState.objects.filter(team=team_b).exists()


def test_beat_schedule_registers_the_tasks(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"mediabao.stats.rollup_recent", "mediabao.stats.rollup_settle"} <= tasks
    from mediabao.stats import tasks as stats_tasks

    assert stats_tasks.rollup_recent.name == "mediabao.stats.rollup_recent"


def test_china_midnight_splits_days_in_the_rollup(team_a, acct):
    Fan.objects.bulk_create([
        Fan(team=team_a, account=acct, openid="late", subscribe_time=sh(2026, 6, 1, 23, 59, 59)),
        Fan(team=team_a, account=acct, openid="early", subscribe_time=sh(2026, 6, 2, 0, 0, 0)),
        Fan(team=team_a, account=acct, openid="utc", subscribe_time=sh(2026, 6, 2, 7, 59, 59)),
    ])
    rollup.build(team_a.pk)
    got = {r.day: r.new_fans for r in DailyStat.objects.filter(team=team_a, activity=None)}
    assert got == {date(2026, 6, 1): 1, date(2026, 6, 2): 2}
