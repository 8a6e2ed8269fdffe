"""The console page and its CSV: figures, filters, presets, bad input, tenancy, the CSP."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.urls import reverse

from mediabao.stats import selectors
from mediabao.stats.tests.scenario import TEAM, build

pytestmark = pytest.mark.django_db

RANGE = {"start": "2026-03-01", "end": "2026-03-03"}


@pytest.fixture
def world(acct, acct2, other_acct, make_activity):
    return build(acct=acct, acct2=acct2, other_acct=other_acct, make_activity=make_activity)


def _text(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert match, element_id
    return match.group(1).strip()


def test_login_required(client):
    response = client.get(reverse("stats:overview"))
    assert response.status_code == 302 and "login" in response["Location"]
    assert client.get(reverse("stats:daily_csv")).status_code == 302


def test_page_shows_the_figures(console, world):
    html = console.get(reverse("stats:overview"), RANGE).content.decode()
    cards = {k: _text(html, f"card-{k}") for k in ("new_fans", "unfollows", "net", "joined", "assists",
                                                   "tiers")}
    assert cards == {"new_fans": "8", "unfollows": "2", "net": "6", "joined": "3", "assists": "2",
                     "tiers": "1"}
    for day, figures in TEAM.items():
        row = re.search(rf'<tr data-day="{day.isoformat()}">(.*?)</tr>', html).group(1)
        assert [int(v) for v in re.findall(r'<td class="text-end">(-?\d+)</td>', row)] == list(figures)
    for chart in ("chart-growth", "chart-campaign", "chart-levels", "chart-channels"):
        assert re.search(rf'id="{chart}"><svg ', html), chart
    assert f'href="/console/campaigns/participants/{world.seed.pk}/">阿甲</a>' in html
    assert f'href="/console/channels/{world.channel.pk}/">门店海报</a>' in html
    # the newest day first in the table
    assert html.index('data-day="2026-03-03"') < html.index('data-day="2026-03-01"')


def test_filters_narrow_and_keep_the_choice(console, world, acct2):
    html = console.get(reverse("stats:overview"), {**RANGE, "activity": world.activity.pk}).content.decode()
    assert _text(html, "card-new_fans") == "2" and _text(html, "card-joined") == "2"
    assert f'<option value="{world.activity.pk}" selected>' in html
    assert 'id="channels-activity"' in html
    html = console.get(reverse("stats:overview"), {**RANGE, "account": acct2.pk}).content.decode()
    assert _text(html, "card-new_fans") == "1" and _text(html, "card-assists") == "0"
    # another team's activity is not offered
    assert world.foreign_activity.name != "" and f'value="{world.foreign_activity.pk}"' not in html


def test_other_team_ids_are_404(console, world, other_acct):
    url = reverse("stats:overview")
    assert console.get(url, {"account": other_acct.pk}).status_code == 404
    assert console.get(url, {"activity": world.foreign_activity.pk}).status_code == 404
    assert console.get(url, {"account": 999999}).status_code == 404
    assert console.get(reverse("stats:daily_csv"), {"account": other_acct.pk}).status_code == 404


@pytest.mark.parametrize("params", [
    {"start": "2026-02-30"}, {"start": "garbage"}, {"start": "2026-03-05", "end": "2026-03-01"},
    {"start": "2024-01-01", "end": "2026-01-01"}, {"end": "9999-12-31"}, {"account": "x"},
    {"activity": "-1"},
])
def test_bad_input_shows_a_message_and_the_default_range(console, params):
    response = console.get(reverse("stats:overview"), params)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="stats-form-errors"' in html
    assert len(re.findall(r"<tr data-day=", html)) == selectors.DEFAULT_RANGE_DAYS
    assert console.get(reverse("stats:daily_csv"), params).status_code == 400


def test_presets_link_to_ranges_ending_today(console):
    html = console.get(reverse("stats:overview")).content.decode()
    today = selectors.today()
    for days in (7, 30, 90):
        start = (today - timedelta(days=days - 1)).isoformat()
        assert re.search(rf'href="\?start={start}&amp;end={today.isoformat()}" id="preset-{days}"', html)
    assert re.search(r'class="btn btn-outline-secondary active" href="[^"]*" id="preset-30"', html)


def test_csv_is_the_daily_table(console, world):
    console.cookies["django_language"] = "en"
    response = console.get(reverse("stats:daily_csv"), {**RANGE, "account": ""})
    assert response.status_code == 200
    assert 'filename="stats-20260301-20260303.csv"' in response["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert lines[0] == ["Day", "New followers", "Unfollows", "Net growth", "Participants joined",
                        "Assists", "Tiers completed"]
    assert {row[0]: tuple(int(v) for v in row[1:]) for row in lines[1:4]} == {
        d.isoformat(): v for d, v in TEAM.items()}
    assert lines[4] == ["Total", "8", "2", "6", "3", "2", "1"]


def test_page_passes_the_csp(console, world):
    """No inline script or style anywhere on the page (the charts are plain SVG)."""
    html = console.get(reverse("stats:overview"), RANGE).content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert " style=" not in html and "<style" not in html
    assert not re.search(r"\son[a-z]+=", html)


def test_chinese(console, world):
    console.cookies["django_language"] = "zh-hans"
    html = console.get(reverse("stats:overview"), RANGE, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "数据统计" in html and "新增关注" in html and "助力" in html
