"""Keyword replies: matching rules, providers, the console form, the API, a live push."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone
from PIL import Image

from mediabao.keywords import matching
from mediabao.keywords.models import KeywordRule
from mediabao.wechat.messages import TextReply
from mediabao.wechat.models import Event, OfficialAccount
from mediabao.wechat.registry import EventContext


@pytest.fixture
def acct(team_a):
    return OfficialAccount.objects.create(team=team_a, appid="wxkw00000000000001", name="关键词号")


def _ctx(acct, text="x"):
    event = Event(team=acct.team, account=acct, openid="o1", msg_type="text", dedup_key="k")
    return EventContext(account=acct, event=event, message={"Content": text}, kind="text", openid="o1")


def rule(acct, keyword, text, **kw):
    return KeywordRule.objects.create(team=acct.team, account=acct, keyword=keyword, text=text, **kw)


@pytest.mark.django_db
def test_exact_and_contains_first_match_wins(acct):
    rule(acct, "价格", "exact", position=10)
    rule(acct, "价", "contains", match="contains", position=20)
    assert matching.match(_ctx(acct), "价格")[0] == TextReply("exact")
    assert matching.match(_ctx(acct), " 价格 ")[0] == TextReply("exact")
    assert matching.match(_ctx(acct), "多少价钱")[0] == TextReply("contains")
    assert matching.match(_ctx(acct), "你好")[0] is None


@pytest.mark.django_db
def test_disabled_and_out_of_window_rules_are_skipped(acct):
    now = timezone.now()
    rule(acct, "a", "off", enabled=False)
    rule(acct, "a", "later", active_from=now + timedelta(days=1))
    rule(acct, "a", "past", active_until=now - timedelta(minutes=1))
    assert matching.match(_ctx(acct), "a")[0] is None
    rule(acct, "a", "now", active_from=now - timedelta(days=1), active_until=now + timedelta(days=1))
    assert matching.match(_ctx(acct), "a")[0] == TextReply("now")


@pytest.mark.django_db
def test_other_accounts_rules_do_not_answer(acct, team_b):
    other = OfficialAccount.objects.create(team=team_b, appid="wxkw00000000000002", name="B")
    rule(other, "价格", "theirs")
    assert matching.match(_ctx(acct), "价格")[0] is None


@pytest.mark.django_db
def test_providers_plug_into_the_same_order(acct):
    rule(acct, "join", "rule at 100", position=100)
    matching.register_provider(
        "campaign", lambda ctx, text: TextReply("campaign") if text == "join" else None, position=50)
    try:
        assert matching.match(_ctx(acct), "join")[0] == TextReply("campaign")
    finally:
        matching.unregister_provider("campaign")
    assert matching.match(_ctx(acct), "join")[0] == TextReply("rule at 100")


@pytest.mark.django_db
def test_console_form_validation_and_tenancy(console, acct, team_b):
    response = console.post("/console/keywords/new/", {"account": acct.pk, "keyword": " ",
                                                       "match": "exact", "reply_type": "text",
                                                       "position": 1, "enabled": "on"})
    assert response.status_code == 200 and not KeywordRule.objects.exists()
    response = console.post("/console/keywords/new/", {"account": acct.pk, "keyword": "hi",
                                                       "match": "exact", "reply_type": "news",
                                                       "position": 1, "enabled": "on"})
    assert response.status_code == 200 and not KeywordRule.objects.exists()
    fake = io.BytesIO(b"not an image at all")
    fake.name = "photo.jpg"
    response = console.post("/console/keywords/new/", {"account": acct.pk, "keyword": "pic",
                                                       "match": "exact", "reply_type": "image",
                                                       "position": 1, "image": fake})
    assert response.status_code == 200 and not KeywordRule.objects.exists()
    response = console.post("/console/keywords/new/", {"account": acct.pk, "keyword": "hi",
                                                       "match": "exact", "reply_type": "text",
                                                       "text": "你好！", "position": 1, "enabled": "on"})
    assert response.status_code == 302
    assert KeywordRule.objects.get().team == acct.team
    other = OfficialAccount.objects.create(team=team_b, appid="wxkw00000000000003", name="B")
    theirs = rule(other, "x", "y")
    assert console.get(f"/console/keywords/{theirs.pk}/").status_code == 404
    assert console.post(f"/console/keywords/{theirs.pk}/delete/").status_code == 404
    response = console.post("/console/keywords/new/", {"account": other.pk, "keyword": "steal",
                                                       "match": "exact", "reply_type": "text",
                                                       "text": "x", "position": 1})
    assert response.status_code == 200 and not KeywordRule.objects.filter(keyword="steal").exists()


@pytest.mark.django_db
def test_api_validation_and_tenancy(api, acct, team_b):
    response = api.post("/api/v1/keyword-rules/", {"account": acct.pk, "keyword": "hi",
                                                   "reply_type": "text"}, format="json")
    assert response.status_code == 400 and "text" in response.json()["fields"]
    response = api.post("/api/v1/keyword-rules/", {"account": acct.pk, "keyword": "hi",
                                                   "reply_type": "text", "text": "你好"}, format="json")
    assert response.status_code == 201
    other = OfficialAccount.objects.create(team=team_b, appid="wxkw00000000000004", name="B")
    response = api.post("/api/v1/keyword-rules/", {"account": other.pk, "keyword": "x",
                                                   "reply_type": "text", "text": "x"}, format="json")
    assert response.status_code == 400 and "account" in response.json()["fields"]
    theirs = rule(other, "x", "y")
    assert api.get(f"/api/v1/keyword-rules/{theirs.pk}/").status_code == 404


def _png() -> io.BytesIO:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (7, 193, 96)).save(buf, "PNG")
    buf.seek(0)
    buf.name = "reply.png"
    return buf


@pytest.fixture
def live_account(live_server, settings, sim, team_a):
    db = connections.settings["default"]
    max_age, db["CONN_MAX_AGE"] = db["CONN_MAX_AGE"], 0
    mp = sim.create_account(name="关键词直播号", encrypt_mode="safe")
    account = OfficialAccount.objects.create(
        team=team_a, appid=mp["appid"], name=mp["name"], appsecret=mp["secret"],
        callback_token=mp["token"], encoding_aes_key=mp["encoding_aes_key"])
    sim.update_account(mp["appid"], server_url=f"{live_server.url}/wechat/callback/{mp['appid']}/")
    yield account
    db["CONN_MAX_AGE"] = max_age


@pytest.mark.django_db(transaction=True)
def test_a_fan_gets_the_keyword_reply_in_the_inbox(live_account, sim, console):
    response = console.post("/console/keywords/new/", {
        "account": live_account.pk, "keyword": "图片", "match": "exact", "reply_type": "image",
        "position": 1, "enabled": "on", "image": _png()})
    assert response.status_code == 302, response.context["form"].errors
    rule(live_account, "价格", "会员 99 元/年", position=2)
    fan = sim.create_fans(live_account.appid, 1)[0]
    assert sim.fan_send_text(live_account.appid, fan, "价格")["status"] == "reply"
    assert sim.fan_send_text(live_account.appid, fan, "图片")["status"] == "reply"
    inbox = sim.inbox(live_account.appid, fan)
    assert inbox[-2]["channel"] == "passive" and inbox[-2]["content"] == "会员 99 元/年"
    assert inbox[-1]["msgtype"] == "image" and inbox[-1]["media_id"] == KeywordRule.objects.get(
        keyword="图片").image_media_id
    assert KeywordRule.objects.get(keyword="价格").hits == 1
