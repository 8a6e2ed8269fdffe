"""The third-party platform (component) flow against wxsim over real HTTP.

wxsim pushes the encrypted ``component_verify_ticket`` and (un)authorization events to
the platform's live server; the operator starts "授权公众号" in the console, the account
admin confirms on WeChat's page, and the account lands in the operator's team with a
working authorizer token that is renewed through its refresh token.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connections
from django.test import Client

from mediabao.audit.models import AuditEntry
from mediabao.wechat import component
from mediabao.wechat.client import WeChatClient
from mediabao.wechat.models import OfficialAccount

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def platform(live_server, settings, sim):
    """A component in wxsim whose pushes reach the live server; settings point at it."""
    db = connections.settings["default"]
    max_age, db["CONN_MAX_AGE"] = db["CONN_MAX_AGE"], 0
    settings.WECHAT_MP_BASE = settings.WECHAT_API_BASE
    settings.PUBLIC_BASE_URL = live_server.url
    created = sim.create_component(
        ticket_url=f"{live_server.url}/wechat/component/notify/",
        msg_url=f"{live_server.url}/wechat/callback/$APPID$/", push_ticket=False)["component"]
    settings.WECHAT_COMPONENT_APPID = created["component_appid"]
    settings.WECHAT_COMPONENT_SECRET = created["component_appsecret"]
    settings.WECHAT_COMPONENT_TOKEN = created["token"]
    settings.WECHAT_COMPONENT_AES_KEY = created["encoding_aes_key"]
    sim.push_ticket(created["component_appid"])
    yield created
    db["CONN_MAX_AGE"] = max_age


def _authorize(sim, console: Client, cappid: str, authorizer: str) -> str:
    """Console "授权公众号" → WeChat's page → the admin picks ``authorizer`` → back."""
    response = console.post("/wechat/component/start/")
    assert response.status_code == 302
    login_page = urlsplit(response["Location"])
    assert login_page.path == "/cgi-bin/componentloginpage"
    params = {k: v[0] for k, v in parse_qs(login_page.query).items()}
    assert params["component_appid"] == cappid
    location = sim.authorize_component(cappid, authorizer, pre_auth_code=params["pre_auth_code"],
                                       redirect_uri=params["redirect_uri"])["location"]
    back = urlsplit(location)
    response = console.get(f"{back.path}?{back.query}")
    assert response.status_code == 302, response.content
    return response["Location"]


def test_ticket_push_is_stored(platform):
    assert component.current_ticket(platform["component_appid"])


def test_authorize_an_account_through_the_component(platform, sim, owner, team_a):
    mp = sim.create_account(name="授权测试号", verified=True)
    sim.create_fans(mp["appid"], 3)
    console = Client()
    console.force_login(owner)
    landing = _authorize(sim, console, platform["component_appid"], mp["appid"])
    account = OfficialAccount.objects.get(appid=mp["appid"])
    assert landing == f"/console/mp/{account.pk}/"
    assert account.team == team_a and account.name == "授权测试号"
    assert account.auth_mode == "component" and account.state == "connected"
    assert account.refresh_token and account.appsecret == ""
    # the authorizer token works, and renews through the refresh token once expired
    assert WeChatClient(account).get("cgi-bin/user/get")["total"] == 3
    sim.expire_tokens(mp["appid"])
    assert WeChatClient(account).get("cgi-bin/user/get")["total"] == 3
    page = console.get(landing).content.decode()
    assert "授权测试号" in page
    authorized = AuditEntry.objects.for_team(team_a).filter(action="account.authorized")
    assert [(e.actor, e.target_label) for e in authorized] == [(owner, "授权测试号")]


def test_unauthorized_push_disconnects_the_account(platform, sim, owner):
    mp = sim.create_account(name="将被取消")
    console = Client()
    console.force_login(owner)
    _authorize(sim, console, platform["component_appid"], mp["appid"])
    sim.unauthorize_component(platform["component_appid"], mp["appid"])
    account = OfficialAccount.objects.get(appid=mp["appid"])
    assert account.state == "disconnected"
    revoked = AuditEntry.objects.for_team(account.team).get(action="account.disconnected")
    assert revoked.actor is None and revoked.target_id == str(account.pk)  # WeChat's push: no operator


def test_reauthorization_invalidates_the_old_refresh_token_and_61023_flags_it(platform, sim, owner):
    mp = sim.create_account(name="重新授权")
    console = Client()
    console.force_login(owner)
    _authorize(sim, console, platform["component_appid"], mp["appid"])
    old = OfficialAccount.objects.get(appid=mp["appid"]).refresh_token
    _authorize(sim, console, platform["component_appid"], mp["appid"])
    account = OfficialAccount.objects.get(appid=mp["appid"])
    assert account.refresh_token != old
    OfficialAccount.objects.filter(pk=account.pk).update(refresh_token=old)
    sim.expire_tokens(mp["appid"])
    with pytest.raises(Exception) as excinfo:
        WeChatClient(OfficialAccount.objects.get(pk=account.pk)).get("cgi-bin/user/get")
    assert getattr(excinfo.value, "errcode", None) == 61023
    assert OfficialAccount.objects.get(pk=account.pk).state == "needs_reauth"


def test_another_teams_account_is_not_taken_over(platform, sim, owner, other_owner):
    mp = sim.create_account(name="别人的号")
    first = Client()
    first.force_login(other_owner)
    _authorize(sim, first, platform["component_appid"], mp["appid"])
    console = Client()
    console.force_login(owner)
    _authorize(sim, console, platform["component_appid"], mp["appid"])
    assert OfficialAccount.objects.get(appid=mp["appid"]).team == other_owner.current_team


def test_forged_notifications_are_refused(platform, client):
    response = client.post("/wechat/component/notify/?signature=x&timestamp=1&nonce=2",
                           data=b"<xml><Encrypt>abc</Encrypt></xml>", content_type="text/xml")
    assert response.status_code == 403
    response = client.post("/wechat/component/notify/", data=b"x" * 70_000, content_type="text/xml")
    assert response.status_code == 400


def test_a_tampered_state_is_refused(platform, sim, owner):
    console = Client()
    console.force_login(owner)
    response = console.get("/wechat/component/return/?state=forged&auth_code=abc")
    assert response.status_code == 302
    assert not OfficialAccount.objects.exists()
