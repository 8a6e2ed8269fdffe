"""Poster files: cached until an input changes; the QR code renewed before it expires."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mediabao.campaigns import services
from mediabao.campaigns.models import QR_EXPIRE_SECONDS

pytestmark = pytest.mark.django_db


class FakeClient:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def post(self, path: str, body: dict) -> dict:
        assert path == "cgi-bin/qrcode/create"
        self.calls.append(body)
        n = len(self.calls)
        return {"ticket": f"T{n}", "expire_seconds": body["expire_seconds"],
                "url": f"http://weixin.qq.com/q/code{n}"}


def test_qr_is_a_30_day_string_scene_and_posters_are_cached(make_activity, acct, monkeypatch):
    monkeypatch.setattr(services, "fetch_avatar", lambda url: None)
    activity = make_activity()
    p = services.join(activity, acct, "o1", nickname="小明")
    client = FakeClient()
    first = services.ensure_poster(p, client=client)
    assert first.is_file() and first.read_bytes()[:3] == b"\xff\xd8\xff"
    body = client.calls[0]
    assert body == {"expire_seconds": QR_EXPIRE_SECONDS, "action_name": "QR_STR_SCENE",
                    "action_info": {"scene": {"scene_str": f"ac_{activity.pk}_{p.pk}"}}}
    assert len(body["action_info"]["scene"]["scene_str"]) <= 64
    assert services.ensure_poster(p, client=client) == first and len(client.calls) == 1
    # a new layout draws a new poster (same QR code); the old file goes
    activity.poster_layout = {**services.layout_for(activity).to_dict(), "qr_x": 500}
    activity.save()
    p.activity = activity
    second = services.ensure_poster(p, client=client)
    assert second != first and not first.exists() and len(client.calls) == 1
    # close to expiry: a new code and a new poster
    p.qr_expires_at = timezone.now() + timedelta(hours=2)
    third = services.ensure_poster(p, client=client)
    assert len(client.calls) == 2 and third != second and p.qr_ticket == "T2"
    p.refresh_from_db()
    assert p.qr_ticket == "T2" and p.poster_path.endswith(third.name)


def test_h5_and_poster_urls_need_a_valid_token(client, make_activity, acct, monkeypatch):
    monkeypatch.setattr(services, "fetch_avatar", lambda url: None)
    activity = make_activity()
    p = services.join(activity, acct, "o1", nickname="小明")
    services.ensure_poster(p, client=FakeClient())
    token = services.h5_token(p)
    page = client.get(f"/c/me/{token}/")
    assert page.status_code == 200 and 'id="poster"' in page.content.decode()
    assert client.get(f"/c/poster/{token}.jpg")["Content-Type"] == "image/jpeg"
    assert client.get(f"/c/me/{token}x/").status_code == 404
    assert client.get("/c/poster/garbage.jpg").status_code == 404
    assert client.get(f"/c/{activity.pk}/oauth/?code=x&state=zzz").status_code == 404
    assert client.get(f"/c/{activity.pk}/oauth/?state=a{acct.pk}").status_code == 400
    assert client.get(f"/c/999999/oauth/?code=x&state=a{acct.pk}").status_code == 404


def test_operator_preview_and_tenancy(console, make_activity, team_b):
    from mediabao.wechat.models import OfficialAccount

    activity = make_activity()
    response = console.get(f"/console/campaigns/{activity.pk}/preview.jpg")
    assert response.status_code == 200 and response.content[:3] == b"\xff\xd8\xff"
    theirs = make_activity(team=team_b, accounts=[
        OfficialAccount.objects.create(team=team_b, appid="wxcampB00000000007", name="B")])
    assert console.get(f"/console/campaigns/{theirs.pk}/preview.jpg").status_code == 404
    form = console.get(f"/console/campaigns/{activity.pk}/edit/").content.decode()
    assert 'id="layout-editor"' in form and "layout-editor.js" in form
