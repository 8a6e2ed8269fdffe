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


# --- the poster image URL (posters_serving) ---------------------------------------------
def _joined_with_poster(make_activity, acct, monkeypatch, openid="o1", **activity_fields):
    import mediabao.wechat.client as wechat_client

    client = FakeClient()
    monkeypatch.setattr(services, "fetch_avatar", lambda url: None)
    monkeypatch.setattr(wechat_client, "WeChatClient", lambda account: client)
    activity = make_activity(**activity_fields)
    p = services.join(activity, acct, openid, nickname="小明")
    services.ensure_poster(p)
    p.refresh_from_db()
    return p, client


def _body(response) -> bytes:
    return b"".join(response.streaming_content)  # the test client closes it (file included)


def _page_poster_src(client, p) -> str:
    import html
    import re

    page = client.get(f"/c/me/{services.h5_token(p)}/").content.decode()
    return html.unescape(re.search(r'id="poster" src="([^"]+)"', page).group(1))


def test_the_page_links_a_versioned_poster_url_served_with_the_right_headers(client, make_activity,
                                                                           acct, monkeypatch):
    p, _client = _joined_with_poster(make_activity, acct, monkeypatch)
    token = services.h5_token(p)
    src = _page_poster_src(client, p)
    assert src == f"/c/poster/{token}.jpg?v={p.poster_key}"
    response = client.get(src)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert _body(response) == services.poster_file(p).read_bytes()
    assert response["ETag"] == f'"{p.poster_key}"' and response["Last-Modified"]
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    # the internal file name (participant id) does not leak
    assert response["Content-Disposition"] == 'inline; filename="poster.jpg"'
    assert response["X-Content-Type-Options"] == "nosniff"
    # the unversioned URL (or an outdated version) serves the same poster, revalidated
    plain = client.get(f"/c/poster/{token}.jpg")
    assert plain["Cache-Control"] == "private, no-cache" and plain["ETag"] == response["ETag"]
    assert _body(plain) == services.poster_file(p).read_bytes()
    assert client.get(f"/c/poster/{token}.jpg?v=0000")["Cache-Control"] == "private, no-cache"
    # revalidation: 304 without a body; another ETag gets the file
    again = client.get(src, HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304 and again["ETag"] == response["ETag"] and not again.content
    assert client.get(src, HTTP_IF_NONE_MATCH='"0000"').status_code == 200
    assert client.head(src).status_code == 200
    assert client.post(src).status_code == 405


def test_forged_or_foreign_tokens_and_removed_participants_get_404(client, make_activity, acct,
                                                                 monkeypatch):
    from django.core import signing

    p, _client = _joined_with_poster(make_activity, acct, monkeypatch)
    other, _ = _joined_with_poster(make_activity, acct, monkeypatch, openid="o2")
    token = services.h5_token(p)
    head, _sep, sig = token.rpartition(":")
    forged = [
        "garbage",
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature altered
        signing.dumps(other.pk, salt="campaigns.owner", compress=True),  # another salt
        signing.dumps(other.pk),  # no salt
        f"{signing.dumps(other.pk, salt=services.H5_SALT, compress=True).rpartition(':')[0]}:{sig}",
        signing.dumps(str(other.pk), salt=services.H5_SALT),  # signed, but not an id
        signing.dumps(999999, salt=services.H5_SALT, compress=True),  # no such participant
    ]
    for bad in forged:
        response = client.get(f"/c/poster/{bad}.jpg")
        assert response.status_code == 404, bad
        assert response.get("Content-Type", "").startswith("text/html")
    # a fan who only assisted (no poster yet) gets no poster made through this URL
    assister = services.join(p.activity, acct, "o3", nickname="")
    from mediabao.campaigns.models import Participant

    Participant.objects.filter(pk=assister.pk).update(joined=False)
    assert client.get(f"/c/poster/{services.h5_token(assister)}.jpg").status_code == 404
    assert not Participant.objects.get(pk=assister.pk).poster_path
    # a removed participant: 404, although the file is still on disk
    path = services.poster_file(p)
    Participant.objects.filter(pk=p.pk).delete()
    assert path.is_file() and client.get(f"/c/poster/{token}.jpg").status_code == 404


def test_an_edited_activity_or_an_expiring_qr_code_serves_a_fresh_poster(client, make_activity,
                                                                       acct, monkeypatch):
    from mediabao.campaigns.models import Participant

    p, wechat = _joined_with_poster(make_activity, acct, monkeypatch)
    old_src, old_file = _page_poster_src(client, p), services.poster_file(p)
    old_bytes = old_file.read_bytes()
    # the operator moves the QR code: the old URL (cached page) and the plain URL both get
    # the new poster, never the old file; the page then links the new version
    activity = p.activity
    activity.poster_layout = {**services.layout_for(activity).to_dict(), "qr_x": 500}
    activity.save()
    assert "?v=" not in _page_poster_src(client, p)  # stale: linked unversioned
    response = client.get(old_src)
    body = _body(response)
    p.refresh_from_db()
    assert response.status_code == 200 and body != old_bytes
    assert body == services.poster_file(p).read_bytes() and not old_file.exists()
    assert response["ETag"] == f'"{p.poster_key}"' and response["Cache-Control"] == "private, no-cache"
    assert _page_poster_src(client, p).endswith(f"?v={p.poster_key}") and len(wechat.calls) == 1
    # a new background invalidates as well
    from mediabao.campaigns.tests.conftest import background_upload

    activity.poster_background.save("bg2.png", background_upload(color=(10, 80, 200)), save=True)
    before = p.poster_key
    _body(client.get(f"/c/poster/{services.h5_token(p)}.jpg"))
    p.refresh_from_db()
    assert p.poster_key != before and len(wechat.calls) == 1
    # the QR code close to its 30-day expiry: a new code from WeChat and a new poster
    Participant.objects.filter(pk=p.pk).update(qr_expires_at=timezone.now() + timedelta(hours=2))
    previous = p.poster_key
    response = client.get(f"/c/poster/{services.h5_token(p)}.jpg?v={previous}")
    body = _body(response)
    p.refresh_from_db()
    assert len(wechat.calls) == 2 and p.qr_ticket == "T2" and p.poster_key != previous
    assert p.qr_expires_at > timezone.now() + timedelta(days=29)
    assert body == services.poster_file(p).read_bytes()
    assert response["Cache-Control"] == "private, no-cache"  # v names the old version
    # the file removed from disk: made again, not a 404
    services.poster_file(p).unlink()
    response = client.get(f"/c/poster/{services.h5_token(p)}.jpg")
    assert response.status_code == 200 and _body(response)[:3] == b"\xff\xd8\xff"
    assert len(wechat.calls) == 2


def test_a_stale_poster_that_cannot_be_made_is_503_not_the_stale_file(client, make_activity, acct,
                                                                      monkeypatch):
    from mediabao.campaigns.models import Participant
    from mediabao.wechat.errors import WeChatError

    p, wechat = _joined_with_poster(make_activity, acct, monkeypatch)

    def refuse(path, body):
        raise WeChatError(-1, "system busy")

    monkeypatch.setattr(wechat, "post", refuse)
    Participant.objects.filter(pk=p.pk).update(qr_expires_at=timezone.now() - timedelta(hours=1))
    response = client.get(f"/c/poster/{services.h5_token(p)}.jpg")
    assert response.status_code == 503 and response["Retry-After"] == "60"
    assert response["Cache-Control"] == "no-store" and b"\xff\xd8" not in response.content


def test_a_request_waits_while_another_one_makes_the_poster(client, make_activity, acct,
                                                              monkeypatch):
    import threading
    import time

    from django.core.cache import cache

    from mediabao.campaigns.models import Participant

    p, wechat = _joined_with_poster(make_activity, acct, monkeypatch)
    Participant.objects.filter(pk=p.pk).update(qr_expires_at=timezone.now() + timedelta(hours=1))
    lock = f"campaigns:poster-make:{p.pk}"
    assert cache.add(lock, 1, timeout=30)  # another request is making it
    threading.Timer(0.3, cache.delete, [lock]).start()
    started = time.monotonic()
    response = client.get(f"/c/poster/{services.h5_token(p)}.jpg")
    assert response.status_code == 200 and time.monotonic() - started >= 0.3
    _body(response)
    assert cache.get(lock) is None and len(wechat.calls) == 2  # renewed once, by this request
