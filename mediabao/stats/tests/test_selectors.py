"""Exact per-day figures from a known history, the China-time day boundary, filters,
tenancy and the number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mediabao.campaigns.models import Participant
from mediabao.stats import selectors
from mediabao.stats.tests.scenario import ACCT2, ACTIVITY, D1, D2, D3, TEAM, build, rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(acct, acct2, other_acct, make_activity):
    return build(acct=acct, acct2=acct2, other_acct=other_acct, make_activity=make_activity)


def test_team_per_day(world, team_a):
    rep = selectors.report(team_a, D1, D3)
    assert [d.day for d in rep.days] == [D1, D2, D3]
    assert rows(rep.days) == TEAM
    t = rep.totals
    assert (t.new_fans, t.unfollows, t.net, t.joined, t.assists, t.tiers) == (8, 2, 6, 3, 2, 1)


def test_day_boundary_is_china_midnight(world, team_a):
    """03-02 alone: 07:00 China time (23:00 UTC the day before) is in; 03-01 23:59:59 is out."""
    rep = selectors.report(team_a, D2, D2)
    assert rows(rep.days) == {D2: TEAM[D2]}
    first = selectors.report(team_a, D1, D1)
    assert first.days[0].new_fans == 3  # 00:00:00 and 23:59:59 of 03-01 both in


def test_account_filter(world, team_a, acct2):
    assert rows(selectors.report(team_a, D1, D3, account=acct2).days) == ACCT2


def test_activity_filter(world, team_a):
    rep = selectors.report(team_a, D1, D3, activity=world.activity)
    assert rows(rep.days) == ACTIVITY
    assert rep.channels == []  # promo codes are not part of an activity


def test_other_team_sees_only_its_rows(world, team_b):
    rep = selectors.report(team_b, D1, D3)
    assert rep.totals.new_fans == 1 and rep.totals.joined == 1
    assert rep.totals.assists == 0 and rep.channels == [] and rep.top_inviters == []


def test_top_inviters(world, team_a):
    rep = selectors.report(team_a, D1, D3)
    assert len(rep.top_inviters) == 1
    top = rep.top_inviters[0]
    seed = Participant.objects.get(pk=world.seed.pk)
    assert (top.participant, top.nickname, top.assists) == (seed.pk, "阿甲", 2)
    assert top.activity == world.activity.pk
    assert top.invites == seed.invites == 1  # C's unfollow was deducted
    assert selectors.report(team_a, D3, D3).top_inviters == []


def test_fission_levels(world, team_a):
    assert selectors.report(team_a, D1, D3).levels == [(1, 2), (2, 2)]
    assert selectors.report(team_a, D1, D3, activity=world.activity).levels == [(1, 1), (2, 2)]
    assert selectors.report(team_a, D2, D3).levels == [(1, 1), (2, 2)]


def test_channel_breakdown(world, team_a, acct2):
    rep = selectors.report(team_a, D1, D3)
    assert rep.channels == [{"channel": world.channel.pk, "name": "门店海报", "new": 2, "unfollowed": 1}]
    assert selectors.report(team_a, D1, D3, account=acct2).channels == []


def test_empty_days_are_zero_and_range_inclusive(team_a):
    rep = selectors.report(team_a, D1, D3)
    assert rows(rep.days) == {d: (0, 0, 0, 0, 0, 0) for d in (D1, D2, D3)}


def test_queries_do_not_grow_with_the_range(world, team_a):
    from datetime import timedelta

    with CaptureQueriesContext(connection) as short:
        selectors.report(team_a, D2, D3)
    with CaptureQueriesContext(connection) as long:
        selectors.report(team_a, D3 - timedelta(days=365), D3)
    assert len(short) == len(long) <= 12
