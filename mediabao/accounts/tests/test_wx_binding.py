"""Binding the operator's own WeChat: a simulated fan opens the QR link in "WeChat"."""

from __future__ import annotations

import re

import pytest
from django.db import connections

from mediabao.audit.models import AuditEntry
from mediabao.wechat.models import OfficialAccount

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_account(live_server, settings, sim, team_a):
    db = connections.settings["default"]
    max_age, db["CONN_MAX_AGE"] = db["CONN_MAX_AGE"], 0
    settings.PUBLIC_BASE_URL = live_server.url
    mp = sim.create_account(name="通知号")
    account = OfficialAccount.objects.create(team=team_a, appid=mp["appid"], name=mp["name"],
                                             appsecret=mp["secret"])
    yield account
    db["CONN_MAX_AGE"] = max_age


def _link(console) -> str:
    page = console.get("/accounts/wechat-binding/").content.decode()
    assert 'id="binding-qr"' in page and 'data-bound="0"' in page
    return re.search(r'href="([^"]+)" id="binding-link"', page).group(1).replace("&amp;", "&")


def test_scanning_the_code_binds_the_operator(console, owner, live_account, sim):
    link = _link(console)
    openid = sim.create_fans(live_account.appid, 1)[0]
    opened = sim.fan_open(live_account.appid, openid, link)
    assert opened["status"] == 200 and "binding-done" in opened["body"], opened
    owner.refresh_from_db()
    assert owner.wx_openid == openid and owner.wx_appid == live_account.appid
    assert AuditEntry.objects.for_team(live_account.team).filter(action="operator.wechat_bound",
                                                                 actor=owner).exists()
    assert 'data-bound="1"' in console.get("/accounts/wechat-binding/status/").content.decode()
    # the link works once
    again = sim.fan_open(live_account.appid, openid, link)
    assert again["status"] == 404


def test_a_forged_return_binds_nothing(client, owner, live_account):
    response = client.get("/accounts/wechat-binding/done/?code=forged&state=abc")
    assert response.status_code == 400
    owner.refresh_from_db()
    assert owner.wx_openid == ""


def test_unbind(console, owner):
    owner.wx_openid, owner.wx_appid = "o-x", "wx-x"
    owner.save()
    console.post("/accounts/wechat-binding/unbind/")
    owner.refresh_from_db()
    assert owner.wx_openid == ""
    assert AuditEntry.objects.get(action="operator.wechat_unbound").actor == owner
