"""End to end through wxsim: keyword → news card → OAuth → poster page → friends scan.

The platform runs as Django's live server; wxsim pushes signed, encrypted events to it
and records every message each fan receives (the ground truth asserted here). Deferred
tasks run eagerly in the web process (no worker needed for a scripted fan).
"""

from __future__ import annotations

import re

import pytest
import requests
import zxingcpp
from PIL import Image

from mediabao.campaigns.models import Assist, Notice, Participant
from mediabao.fans.models import Fan

pytestmark = pytest.mark.django_db(transaction=True)


def news_url(inbox: list[dict]) -> str:
    for message in inbox:
        if message.get("msgtype") == "news":
            text = repr(message)
            found = re.search(r"https?://[^'\"\s]+oauth2/authorize[^'\"\s]+", text)
            if found:
                return found.group(0)
    raise AssertionError(f"no news card with an OAuth link in {inbox}")


def test_keyword_oauth_poster_and_friends(live_account, live_server, sim, make_activity):
    appid = live_account.appid
    activity = make_activity(accounts=[live_account], tiers=((2, "贴纸", 1), (3, "杯子", None)))
    # the operator's fallback for notices outside the customer-service quota (SPEC §6)
    sim.create_template(appid, "助力通知", "{{keyword1.DATA}}\n{{keyword2.DATA}}")
    from mediabao.messaging.models import DeliverySettings
    from mediabao.messaging.services import sync_templates

    sync_templates(live_account)
    DeliverySettings.objects.create(account=live_account,
                                    notice_template=live_account.message_templates.get())
    seed = sim.create_fans(appid, 1)[0]
    result = sim.fan_send_text(appid, seed, "海报")
    assert result["status"] == "reply" and result["reply"]["content"] == "邀请好友关注即可领奖"
    inbox = sim.inbox(appid, seed)
    assert any(m["channel"] == "passive" for m in inbox)
    link = news_url(inbox)
    assert "snsapi_userinfo" in link and f"/c/{activity.pk}/oauth/" in requests.utils.unquote(link)

    page = sim.fan_open(appid, seed, link)
    assert page["status"] == 200, page
    body = page["body"]
    assert 'id="poster"' in body and 'id="leaderboard"' in body and "贴纸" in body
    participant = Participant.objects.get(activity=activity, openid=seed)
    assert participant.joined and participant.nickname and participant.qr_ticket
    assert Fan.objects.get(account=live_account, openid=seed).nickname == participant.nickname
    # the poster image: a JPEG whose QR code is the participant's code
    poster_path = re.search(r'id="poster" src="([^"]+)"', body).group(1)
    response = requests.get(live_server.url + poster_path, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/jpeg"
    import io

    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(response.content)))
    assert [d.text for d in decoded] == [participant.qr_url]
    assert any(m.get("msgtype") == "image" for m in sim.inbox(appid, seed)), "poster sent as an image"
    # opening the link again reuses the cached poster (same QR code, same file)
    again = sim.fan_open(appid, seed, news_url(sim.inbox(appid, seed)))
    assert again["status"] in (200, 400)  # a used OAuth code: a clear page, never a 500
    before = (participant.qr_ticket, participant.poster_path)
    participant.refresh_from_db()
    assert (participant.qr_ticket, participant.poster_path) == before
    images = [m for m in sim.inbox(appid, seed) if m.get("msgtype") == "image"]
    assert len(images) == 1, "the same poster is sent once"

    friends = sim.create_fans(appid, 3, following=False)
    for friend in friends:
        reply = sim.fan_scan(appid, friend, participant.qr_ticket)
        assert reply["status"] == "reply", reply
        assert "助力" in reply["reply"]["content"]
    sim.fan_scan(appid, friends[0], participant.qr_ticket)  # already following: SCAN, no count
    participant.refresh_from_db()
    assert participant.invites == 3 and participant.tiers_completed == 2
    assert Assist.objects.filter(activity=activity, counted=True).count() == 3
    assert {p.level for p in Participant.objects.filter(activity=activity, joined=False)} == {2}
    # notices: the seed's quota (5 after the keyword; card and poster used 2) then 45047
    notices = list(Notice.objects.filter(participant=participant).exclude(key__startswith="poster:")
                   .order_by("id"))
    assert len(notices) == 5  # 3 assists + 2 tiers
    assert [n.channel for n in notices] == ["custom"] * 3 + ["template"] * 2
    assert all(n.sent_at for n in notices)
    templates = [m for m in sim.inbox(appid, seed) if m["channel"] == "template"]
    assert len(templates) == 2
    texts = [str(m) for m in sim.inbox(appid, seed)
             if m.get("msgtype") == "text" and m["channel"] == "custom"]
    assert len(texts) == 3 and "为你助力成功" in texts[0] and "已邀请 1 人" in texts[0]

    # the fan's own webview (with the cookie OAuth left) shows the prize code and address form
    from mediabao.campaigns.models import RewardClaim

    claim = RewardClaim.objects.filter(participant=participant).order_by("tier__level").first()
    final = page["final_url"]
    own = sim.fan_open(appid, seed, final if final.startswith("http") else live_server.url + final)
    assert own["status"] == 200 and claim.code in own["body"]
    stranger = sim.fan_open(appid, friends[2], final if final.startswith("http") else live_server.url + final)
    assert stranger["status"] == 200 and claim.code not in stranger["body"]

    # unfollow with deduction: the count drops
    sim.fan_unsubscribe(appid, friends[1])
    participant.refresh_from_db()
    assert participant.invites == 2
    assert Participant.objects.get(activity=activity, openid=friends[1]).following is False
    # a forged scene on a real push: ignored, still answered
    stranger = sim.create_fans(appid, 1, following=False)[0]
    sim.fan_subscribe(appid, stranger)
    assert not Assist.objects.filter(fan_openid=stranger).exists()


def test_keyword_outside_time_gets_a_clear_reply(live_account, sim, make_activity):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    make_activity(accounts=[live_account], keyword="早鸟", start=now + timedelta(days=1),
                  end=now + timedelta(days=3))
    fan = sim.create_fans(live_account.appid, 1)[0]
    result = sim.fan_send_text(live_account.appid, fan, "早鸟")
    content = result["reply"]["content"]
    assert result["status"] == "reply" and ("开始" in content or "not started" in content)
    assert not any(m.get("msgtype") == "news" for m in sim.inbox(live_account.appid, fan))


def test_many_friends_scan_one_poster_at_once(live_account, sim, make_activity):
    """Real pushes, concurrently: the count equals the distinct new fans, stock never
    below zero, one notice per assist; repeated scans (SCAN events) change nothing."""
    from concurrent.futures import ThreadPoolExecutor

    from mediabao.campaigns import services
    from mediabao.campaigns.models import AwardTier, RewardClaim

    appid = live_account.appid
    activity = make_activity(accounts=[live_account], tiers=((20, "贴纸", 1), (40, "杯子", 0)))
    seed = sim.create_fans(appid, 1)[0]
    participant = services.join(activity, live_account, seed, nickname="种子")
    services.ensure_qr(participant)
    friends = sim.create_fans(appid, 60, following=False)
    with ThreadPoolExecutor(20) as pool:
        first = list(pool.map(lambda f: sim.fan_scan(appid, f, participant.qr_ticket), friends))
        again = list(pool.map(lambda f: sim.fan_scan(appid, f, participant.qr_ticket), friends))
    assert all(r["status"] in ("reply", "ok") for r in first + again), first + again
    participant.refresh_from_db()
    assert participant.invites == 60 and participant.tiers_completed == 2
    assert Assist.objects.filter(activity=activity).count() == 60
    assert Notice.objects.filter(participant=participant, key__startswith="assist:").count() == 60
    assert list(AwardTier.objects.filter(activity=activity).order_by("level")
                .values_list("remaining", flat=True)) == [0, 0]
    assert RewardClaim.objects.filter(participant=participant).count() == 1
    assert Fan.objects.filter(account=live_account, openid__in=friends, source="campaign").count() == 60
