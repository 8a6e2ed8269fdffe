"""``GET /api/v1/stats/daily/``: the series, tenancy and bad input (400, never 500)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from mediabao.campaigns.models import Participant
from mediabao.stats import selectors
from mediabao.stats.tests.scenario import ACTIVITY, TEAM, build

pytestmark = pytest.mark.django_db

URL = "/api/v1/stats/daily/"
RANGE = {"start": "2026-03-01", "end": "2026-03-03"}
KEYS = ("new_fans", "unfollows", "net", "joined", "assists", "tiers")


@pytest.fixture
def world(acct, acct2, other_acct, make_activity):
    return build(acct=acct, acct2=acct2, other_acct=other_acct, make_activity=make_activity)


def test_url_name():
    assert reverse("api:stats-daily") == URL


def test_series(api, world):
    body = api.get(URL, RANGE).json()
    assert body["start"] == "2026-03-01" and body["end"] == "2026-03-03"
    assert body["timezone"] == "Asia/Shanghai" and body["account"] is None and body["activity"] is None
    assert {d["day"]: tuple(d[k] for k in KEYS) for d in body["days"]} == {
        day.isoformat(): v for day, v in TEAM.items()}
    assert body["totals"] == dict(zip(KEYS, (8, 2, 6, 3, 2, 1)))
    seed = Participant.objects.get(pk=world.seed.pk)
    assert body["top_inviters"] == [{
        "participant": seed.pk, "nickname": "阿甲", "openid": "seedA", "activity": world.activity.pk,
        "activity_name": world.activity.name, "assists": 2, "invites": seed.invites}]
    assert body["levels"] == [{"level": 1, "participants": 2}, {"level": 2, "participants": 2}]
    assert body["channels"] == [{"channel": world.channel.pk, "name": "门店海报", "new": 2, "unfollowed": 1}]


def test_activity_filter(api, world):
    body = api.get(URL, {**RANGE, "activity": world.activity.pk}).json()
    assert body["activity"] == world.activity.pk
    assert {d["day"]: tuple(d[k] for k in KEYS) for d in body["days"]} == {
        day.isoformat(): v for day, v in ACTIVITY.items()}


def test_default_range_is_the_last_30_days(api):
    body = api.get(URL).json()
    start, end = selectors.default_range()
    assert (body["start"], body["end"]) == (start.isoformat(), end.isoformat())
    assert len(body["days"]) == 30


def test_366_days_allowed_367_not(api):
    assert api.get(URL, {"start": "2025-03-03", "end": "2026-03-03"}).status_code == 200
    response = api.get(URL, {"start": "2025-03-02", "end": "2026-03-03"})
    assert response.status_code == 400 and "non_field_errors" in response.json()["fields"]


def test_other_team_ids_are_404(api, world, other_acct):
    for params in ({"account": other_acct.pk}, {"activity": world.foreign_activity.pk},
                   {"account": 987654}, {"activity": 987654}):
        response = api.get(URL, {**RANGE, **params})
        assert response.status_code == 404, params
        assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(("params", "field"), [
    ({"start": "2026-02-30"}, "start"), ({"start": "garbage"}, "start"), ({"end": "03/01/2026"}, "end"),
    ({"start": "2026-03-05", "end": "2026-03-01"}, "non_field_errors"),
    ({"end": "9999-12-31"}, "non_field_errors"), ({"start": "0001-01-01"}, "non_field_errors"),
    ({"account": "abc"}, "account"), ({"activity": "0"}, "activity"), ({"account": "1" * 30}, "account"),
])
def test_bad_input_is_400_with_field_errors(api, params, field):
    response = api.get(URL, params)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid" and field in body["fields"]


def test_needs_authentication():
    assert APIClient().get(URL).status_code in (401, 403)


def test_in_the_openapi_schema(client):
    paths = client.get("/api/schema/?format=json").json()["paths"]
    params = {p["name"] for p in paths["/api/v1/stats/daily/"]["get"]["parameters"]}
    assert params >= {"start", "end", "account", "activity"}
