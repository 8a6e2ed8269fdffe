"""The live part of the statistics (today, usually) is one statement: plain counts of one
day equal the per-day GROUP BY, China midnight included, and today's rows show at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mediabao.campaigns import stats as campaign_stats
from mediabao.campaigns.models import Assist, Participant, RewardClaim
from mediabao.fans.models import Fan
from mediabao.stats import rollup, selectors
from mediabao.stats.tests.test_rollup import DAYS, FIRST, generated  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db


def _parts(team, account=None, activity=None) -> dict:
    fans = selectors.fans_queryset(team, account, activity)
    scoped = {"team": team, **({"account": account} if account else {}),
              **({"activity": activity} if activity else {})}
    claims = RewardClaim.objects.filter(team=team)
    if account is not None:
        claims = claims.filter(participant__account=account)
    if activity is not None:
        claims = claims.filter(tier__activity=activity)
    return {
        "new_fans": (fans, "subscribe_time"),
        "unfollows": (fans.filter(subscribed=False), "unsubscribe_time"),
        "joined": (Participant.objects.filter(joined=True, **scoped), "joined_at"),
        "assists": (Assist.objects.filter(**scoped), "created_at"),
        "tiers": (claims, "created_at"),
    }


def test_one_day_counts_equal_the_grouped_day(generated, team_a):  # noqa: F811
    one, _two = generated["activities"]
    a1, _a2 = generated["accounts"]
    seen = 0
    for scope in ({}, {"account": a1}, {"activity": one}):
        parts = _parts(team_a, **scope)
        for n in range(-1, DAYS + 1):
            day = FIRST + timedelta(days=n)
            lo, hi = selectors.bounds(day, day)
            with CaptureQueriesContext(connection) as ctx:
                counted = selectors.live_counts(parts, lo, hi, day=day)
            assert len(ctx.captured_queries) == 1
            grouped = selectors.live_counts(parts, lo, hi)
            assert counted == grouped, (scope, day)
            assert set(grouped) == set(parts)
            seen += sum(v.get(day, 0) for v in counted.values())
    assert seen > 0


def test_today_is_live_in_one_statement(generated, team_a, acct):  # noqa: F811
    one, _two = generated["activities"]
    rollup.build(team_a.pk)
    today = selectors.today()
    start = today - timedelta(days=29)
    with CaptureQueriesContext(connection) as before:
        rep = selectors.report(team_a, start, today)
    assert rep.totals.new_fans == 0
    seed = Participant.objects.filter(activity=one, account=acct).first()
    now = timezone.now()
    Fan.objects.create(team=team_a, account=acct, openid="today1", subscribe_time=now)
    Fan.objects.create(team=team_a, account=acct, openid="today2", subscribe_time=now - timedelta(days=40),
                       subscribed=False, unsubscribe_time=now)
    Assist.objects.create(team=team_a, activity=one, inviter=seed, account=acct, fan_openid="today1",
                          created_at=now)
    rep = selectors.report(team_a, start, today)
    assert (rep.days[-1].day, rep.days[-1].new_fans, rep.days[-1].unfollows, rep.days[-1].assists) == (
        today, 1, 1, 1)
    assert rep.top_inviters[0].participant == seed.pk
    live = selectors.report(team_a, start, today, live=True)
    assert rep.totals.as_dict() == live.totals.as_dict()
    # the live figures of today: one statement, whichever tables they count
    live_sql = [q["sql"] for q in before.captured_queries if "AS figure" in q["sql"]]
    assert len(live_sql) == 1 and "fans_fan" in live_sql[0] and "campaigns_assist" in live_sql[0]
    # the activity page's table: today live, the same as counting every day live
    daily = campaign_stats.daily(one)
    assert daily == campaign_stats.daily(one, live=True)
    assert daily[0]["day"] == today and daily[0]["assists"] == 1


def test_settled_levels_and_inviters_come_from_the_rollup(generated, team_a):  # noqa: F811
    one, _two = generated["activities"]
    a1, _a2 = generated["accounts"]
    scopes = ({}, {"activity": one}, {"account": a1})
    start, end = FIRST - timedelta(days=1), FIRST + timedelta(days=DAYS)
    live = [selectors.report(team_a, start, end, live=True, top=1000, **scope) for scope in scopes]
    rollup.build(team_a.pk)
    with CaptureQueriesContext(connection) as ctx:
        rolled = [selectors.report(team_a, start, end, top=1000, **scope) for scope in scopes]
    assert [r.levels for r in rolled] == [r.levels for r in live]
    assert sum(n for _lv, n in rolled[0].levels) == Participant.objects.filter(team=team_a).count()
    assert [[vars(i) for i in r.top_inviters] for r in rolled] == [[vars(i) for i in r.top_inviters]
                                                                   for r in live]
    assert sum(i.assists for i in rolled[0].top_inviters) == Assist.objects.filter(team=team_a).count()
    level_sql = [q["sql"] for q in ctx.captured_queries if "AS found (level, n)" in q["sql"]]
    inviter_sql = [q["sql"] for q in ctx.captured_queries if "AS found (inviter_id, n)" in q["sql"]]
    assert len(level_sql) == len(inviter_sql) == len(scopes)
    assert all("stats_leveldaily" in q and "campaigns_participant" not in q for q in level_sql)
    assert all("stats_inviterdaily" in q and "campaigns_assist" not in q for q in inviter_sql)
