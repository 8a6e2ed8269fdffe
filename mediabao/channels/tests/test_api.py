"""REST API: the console's validation (400 with field errors), tenancy 404s, stats, images."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from mediabao.channels import services
from mediabao.channels.models import Channel

pytestmark = pytest.mark.django_db
BASE = "/api/v1/channels/"


@pytest.fixture
def foreign(other_account):
    return services.create_channel(account=other_account, name="别人的码")


def test_create_list_retrieve(api, sim, account):
    response = api.post(BASE, {"account": account.pk, "name": "门店海报", "note": "静安"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["scene_str"].startswith("ch_") and body["url"].startswith("http://weixin.qq.com/q/")
    assert body["counts"] == {"new": 0, "following": 0, "unfollowed": 0, "scans": 0}
    assert body["created_by"] == "alice"
    listed = api.get(BASE).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == body["id"]
    assert api.get(f"{BASE}{body['id']}/").json()["name"] == "门店海报"


@pytest.mark.parametrize("payload,field", [
    ({}, "account"),
    ({"account": "ACCOUNT"}, "name"),
    ({"account": "ACCOUNT", "name": ""}, "name"),
    ({"account": "ACCOUNT", "name": None}, "name"),
    ({"account": "ACCOUNT", "name": "x" * 61}, "name"),
    ({"account": "ACCOUNT", "name": "门店海报"}, "name"),
    ({"account": "abc", "name": "x"}, "account"),
    ({"account": 10**12, "name": "x"}, "account"),
    ({"account": "FOREIGN", "name": "x"}, "account"),
    ({"account": ["ACCOUNT"], "name": "x"}, "account"),
    ({"account": "ACCOUNT", "name": {"a": 1}}, "name"),
    ({"account": "ACCOUNT", "name": "x", "note": "n" * 501}, "note"),
])
def test_bad_input_is_a_400_with_field_errors(api, account, other_account, channel, payload, field):
    ids = {"ACCOUNT": account.pk, "FOREIGN": other_account.pk}
    def resolve(v):
        if isinstance(v, list):
            return [ids.get(x, x) for x in v]
        return ids.get(v, v) if isinstance(v, str) else v

    payload = {k: resolve(v) for k, v in payload.items()}
    response = api.post(BASE, payload, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid" and field in body["fields"], body
    assert Channel.objects.count() == 1  # only the fixture's


def test_a_body_that_is_not_an_object_is_a_400(api, account):
    assert api.post(BASE, [1, 2], format="json").status_code == 400
    assert api.post(BASE, "garbage", content_type="application/json").status_code == 400


def test_budget_exhaustion_is_a_400_on_account(api, account, channel, settings):
    settings.CHANNELS_PERMANENT_QR_CAP = 1
    response = api.post(BASE, {"account": account.pk, "name": "新的"}, format="json")
    assert response.status_code == 400
    assert account.name in response.json()["fields"]["account"][0]  # says which account is full
    budget = api.get(f"{BASE}budget/", {"account": account.pk}).json()
    assert budget == {"account": account.pk, "used": 1, "cap": 1, "remaining": 0}


def test_update_archive_restore(api, channel):
    url = f"{BASE}{channel.pk}/"
    assert api.patch(url, {"name": "新名字"}, format="json").json()["name"] == "新名字"
    assert api.patch(url, {"name": ""}, format="json").status_code == 400
    assert api.put(url, {"note": "备注"}, format="json").json()["note"] == "备注"
    assert api.patch(url, {"account": 1, "scene_str": "ch_hijack"}, format="json").status_code == 200
    channel.refresh_from_db()
    assert channel.scene_str != "ch_hijack"
    assert api.post(f"{url}archive/").json()["archived"] is True
    assert api.get(BASE).json()["count"] == 0
    assert api.get(BASE, {"archived": "1"}).json()["count"] == 1
    assert api.post(f"{url}restore/").json()["archived"] is False
    assert api.delete(url).status_code == 405


def test_stats(api, channel, account, push):
    push(account, "o-1", "subscribe", f"qrscene_{channel.scene_str}")
    push(account, "o-1", "unsubscribe")
    push(account, "o-2", "subscribe", f"qrscene_{channel.scene_str}")
    today = timezone.localdate()
    body = api.get(f"{BASE}{channel.pk}/stats/").json()
    assert len(body["days"]) == 30 and body["end"] == today.isoformat()
    assert body["days"][-1] == {"day": today.isoformat(), "new": 2, "unfollowed": 1, "net": 1,
                                "retained": 1, "scans": 0}
    assert body["totals"]["new"] == 2 and body["all_time"] == {"new": 2, "following": 1,
                                                                "unfollowed": 1, "scans": 0}
    start = (today - timedelta(days=6)).isoformat()
    week = api.get(f"{BASE}{channel.pk}/stats/", {"start": start, "end": today.isoformat()}).json()
    assert len(week["days"]) == 7
    for params in ({"start": "2026-13-01"}, {"start": "2026-02-01", "end": "2026-01-01"},
                   {"start": "2020-01-01", "end": "2026-01-01"}):
        response = api.get(f"{BASE}{channel.pk}/stats/", params)
        assert response.status_code == 400 and response.json()["code"] == "invalid", params
    listed = api.get(BASE).json()["results"][0]
    assert listed["counts"] == {"new": 2, "following": 1, "unfollowed": 1, "scans": 0}


def test_qr_images(api, channel):
    png = api.get(f"{BASE}{channel.pk}/qr/", {"size": 860}, HTTP_ACCEPT="image/png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (860, 860)
    assert "filename*=UTF-8''" in png["Content-Disposition"]
    svg = api.get(f"{BASE}{channel.pk}/qr/", {"kind": "svg"})
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
    assert api.get(f"{BASE}{channel.pk}/qr/", {"kind": "gif"}).status_code == 400
    assert api.get(f"{BASE}{channel.pk}/qr/", {"size": "12"}).status_code == 400


def test_another_teams_channel_is_a_404(api, foreign):
    url = f"{BASE}{foreign.pk}/"
    assert api.get(url).status_code == 404
    assert api.patch(url, {"name": "x"}, format="json").status_code == 404
    assert api.post(f"{url}archive/").status_code == 404
    assert api.get(f"{url}stats/").status_code == 404
    assert api.get(f"{url}qr/", HTTP_ACCEPT="image/png").status_code == 404
    assert api.get(f"{BASE}budget/", {"account": foreign.account_id}).status_code == 404
    assert api.get(f"{BASE}budget/", {"account": "x"}).status_code == 400
    assert api.get(BASE, {"archived": "all"}).json()["count"] == 0
    foreign.refresh_from_db()
    assert foreign.name == "别人的码" and not foreign.archived


def test_the_api_needs_a_token(client, channel):
    assert client.get(BASE).status_code in (401, 403)


@pytest.mark.parametrize("body", [
    None, "", "[]", "{", '"x"', "1", '{"account": null, "name": null}', '{"account": true, "name": "x"}',
    '{"account": 1.5, "name": "x"}', '{"account": "1; DROP TABLE", "name": "x"}', '{"name": "\\u0000"}',
    '{"account": -1, "name": "x"}', '{"account": 99999999999999999999999, "name": "x"}',
])
def test_odd_bodies_never_500(api, account, channel, body):
    for method, url in (("post", BASE), ("patch", f"{BASE}{channel.pk}/")):
        response = getattr(api, method)(url, body, content_type="application/json")
        assert response.status_code < 500, (method, body, response.content)
        if response.status_code >= 400:
            assert response.json()["code"] in ("invalid", "parse_error"), response.content
    for params in ({"page": "abc"}, {"page_size": "-1"}, {"account": "x"}, {"archived": "maybe"},
                   {"q": "\x00"}):
        assert api.get(BASE, params).status_code in (200, 404), params
    assert Channel.objects.count() == 1
