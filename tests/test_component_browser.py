"""Acceptance: an operator authorizes an official account in a real browser.

Chromium logs into the console, clicks "授权公众号", lands on WeChat's (wxsim's)
authorization page, picks the account as its admin would, and comes back to the
account's page in the console; the account then receives events in the event log and
its fans appear in the fan list.
"""

from __future__ import annotations

import pytest
from django.db import connections

from mediabao.fans.models import Fan
from mediabao.testing.browser import launch, log_in
from mediabao.wechat.models import Event, OfficialAccount

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def component_platform(live_server, settings, sim):
    db = connections.settings["default"]
    max_age, db["CONN_MAX_AGE"] = db["CONN_MAX_AGE"], 0
    settings.PUBLIC_BASE_URL = live_server.url
    created = sim.create_component(
        ticket_url=f"{live_server.url}/wechat/component/notify/",
        msg_url=f"{live_server.url}/wechat/callback/$APPID$/", push_ticket=False)["component"]
    settings.WECHAT_COMPONENT_APPID = created["component_appid"]
    settings.WECHAT_COMPONENT_SECRET = created["component_appsecret"]
    settings.WECHAT_COMPONENT_TOKEN = created["token"]
    settings.WECHAT_COMPONENT_AES_KEY = created["encoding_aes_key"]
    sim.push_ticket(created["component_appid"])
    yield live_server
    db["CONN_MAX_AGE"] = max_age


def test_authorize_in_chromium_then_events_and_fans_arrive(component_platform, sim, owner):
    from playwright.sync_api import sync_playwright

    mp = sim.create_account(name="浏览器授权号", verified=True, encrypt_mode="safe")
    url = component_platform.url
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(locale="zh-CN")
            log_in(page, url, owner.username)
            page.goto(f"{url}/console/mp/")
            page.click("#authorize-account")
            page.wait_for_selector(f"a.account[data-appid='{mp['appid']}']")
            page.click(f"a.account[data-appid='{mp['appid']}']")
            page.wait_for_url(f"{url}/console/mp/*/")
            assert "浏览器授权号" in page.inner_text("main")
        finally:
            browser.close()
    account = OfficialAccount.objects.get(appid=mp["appid"])
    assert account.team == owner.current_team and account.auth_mode == "component"

    # events now reach the platform through the component's message URL
    newcomer = sim.create_fans(mp["appid"], 1, following=False)[0]
    assert sim.fan_subscribe(mp["appid"], newcomer)["status"] == "ok"
    assert sim.fan_send_text(mp["appid"], newcomer, "你好")["status"] in ("ok", "reply")
    assert sim.fan_unsubscribe(mp["appid"], newcomer)["status"] == "ok"
    kinds = list(Event.objects.filter(account=account).order_by("id").values_list("msg_type", "event"))
    assert kinds == [("event", "subscribe"), ("text", ""), ("event", "unsubscribe")]
    fan = Fan.objects.get(account=account, openid=newcomer)
    assert not fan.subscribed and fan.unsubscribe_time is not None
