"""wxsim pushes to the platform over HTTP (live server): events logged, replies in the inbox.

These run the callback view in Django's live server thread while wxsim, in its own
thread, makes WeChat's signed (and, in safe/compat mode, encrypted) pushes with its
5-second timeout and retries, and parses our passive replies as WeChat would.
"""

from __future__ import annotations

import time

import pytest
from django.db import connections

from mediabao.wechat.client import WeChatClient
from mediabao.wechat.messages import Article, ImageReply, NewsReply, TextReply
from mediabao.wechat.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live(live_server, settings, sim, account):
    settings.ROOT_URLCONF = "mediabao.wechat.tests.urls"
    sim.update_account(account.appid, server_url=f"{live_server.url}/wechat/callback/{account.appid}/")
    # wxsim keeps its connections alive, so the server's request threads outlive the test;
    # their database connections must close after each request or the test DB can't be dropped.
    db_settings = connections.settings["default"]
    max_age, db_settings["CONN_MAX_AGE"] = db_settings["CONN_MAX_AGE"], 0
    yield live_server
    db_settings["CONN_MAX_AGE"] = max_age


@pytest.mark.parametrize("mode", ["safe", "compat", "plain"])
def test_a_keyword_reply_reaches_the_fans_inbox(live, sim, account, handlers, mode):
    sim.update_account(account.appid, encrypt_mode=mode)

    @handlers.on("text")
    def keyword(ctx):
        if ctx.message.get("Content") == "价格":
            return TextReply("会员 99 元/年")

    openid = sim.create_fans(account.appid, 1)[0]
    result = sim.fan_send_text(account.appid, openid, "价格")
    assert result["status"] == "reply", result
    inbox = sim.inbox(account.appid, openid)
    assert inbox[-1]["channel"] == "passive" and inbox[-1]["content"] == "会员 99 元/年"
    event = Event.objects.get()
    assert (event.openid, event.msg_type, event.payload["Content"]) == (openid, "text", "价格")


def test_subscribe_scan_and_unsubscribe_appear_in_the_event_log(live, sim, account):
    ticket = WeChatClient(account).post("cgi-bin/qrcode/create", {
        "expire_seconds": 600, "action_name": "QR_SCENE",
        "action_info": {"scene": {"scene_id": 123}}})["ticket"]
    newcomer = sim.create_fans(account.appid, 1, following=False)[0]
    follower = sim.create_fans(account.appid, 1)[0]
    assert sim.fan_subscribe(account.appid, newcomer, ticket=ticket)["status"] == "ok"
    assert sim.fan_scan(account.appid, follower, ticket=ticket)["status"] == "ok"
    assert sim.fan_unsubscribe(account.appid, newcomer)["status"] == "ok"
    log = list(Event.objects.order_by("id").values_list("openid", "event", "event_key"))
    assert log == [(newcomer, "subscribe", "qrscene_123"), (follower, "SCAN", "123"),
                   (newcomer, "unsubscribe", "")]
    account.refresh_from_db()
    assert account.last_event_at is not None


def test_a_slow_first_answer_and_wechats_retries_store_the_event_once(live, sim, account, handlers):
    sim.set_push(timeout=0.5, retries=3)
    hits = []

    @handlers.on("text")
    def slow(ctx):
        hits.append(ctx.event.pk)
        time.sleep(1.2)
        return TextReply("久等了")

    openid = sim.create_fans(account.appid, 1)[0]
    result = sim.fan_send_text(account.appid, openid, "慢一点")
    assert len(result["attempts"]) >= 2  # WeChat retried while we were still working
    # A later retry got the first delivery's reply, so the fan is answered once.
    assert result["status"] == "reply", result
    assert [m["content"] for m in sim.inbox(account.appid, openid)] == ["久等了"]
    time.sleep(0.3)
    assert Event.objects.count() == 1 and len(hits) == 1


@pytest.mark.parametrize(("reply", "expected"), [
    (ImageReply("MEDIA_ID_1"), {"msgtype": "image", "media_id": "MEDIA_ID_1"}),
    (NewsReply([Article("新品", "点击查看", "http://p/1.jpg", "http://u/1")]),
     {"msgtype": "news", "articles": [{"title": "新品", "description": "点击查看",
                                      "picurl": "http://p/1.jpg", "url": "http://u/1"}]}),
])
def test_image_and_news_replies_are_accepted_by_wechat(live, sim, account, handlers, reply, expected):
    @handlers.on("click")
    def menu(ctx):
        return reply

    openid = sim.create_fans(account.appid, 1)[0]
    assert sim.fan_click(account.appid, openid, "MENU_1")["status"] == "reply"
    got = sim.inbox(account.appid, openid)[-1]
    assert {k: got[k] for k in expected} == expected
