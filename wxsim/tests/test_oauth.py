"""Web OAuth: the authorize page, codes (single use, 5 minutes), sns tokens and userinfo."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import requests

from .helpers import assert_err


def authorize_url(appid: str, redirect: str, scope: str = "snsapi_userinfo", state: str = "S1",
                  host: str = "https://open.weixin.qq.com") -> str:
    return (f"{host}/connect/oauth2/authorize?appid={appid}&redirect_uri={quote(redirect, safe='')}"
            f"&response_type=code&scope={scope}&state={state}#wechat_redirect")


def code_from(res: dict) -> tuple[str, str]:
    q = parse_qs(urlsplit(res["final_url"]).query)
    return q["code"][0], q["state"][0]


def sns(wx, path: str, **params) -> dict:
    r = requests.get(f"{wx.base_url}/sns/{path}", params=params, timeout=10)
    assert r.status_code == 200
    return r.json()


def test_fan_opens_oauth_link_and_platform_exchanges_code(wx, client, receiver):
    acct = client.create_account()
    appid = acct["appid"]
    (fan,) = client.create_fans(appid, 1)
    receiver.handler = lambda r: (200, "<html>landing</html>", 0)
    res = client.fan_open(appid, fan, authorize_url(appid, receiver.url + "/cb?x=1"))
    assert res["status"] == 200 and res["body"] == "<html>landing</html>"
    assert res["chain"][0]["status"] == 302
    code, state = code_from(res)
    assert state == "S1" and parse_qs(urlsplit(res["final_url"]).query)["x"] == ["1"]
    tok = sns(wx, "oauth2/access_token", appid=appid, secret=acct["secret"], code=code,
              grant_type="authorization_code")
    assert tok["openid"] == fan and tok["scope"] == "snsapi_userinfo" and "unionid" in tok
    assert_err(sns(wx, "oauth2/access_token", appid=appid, secret=acct["secret"], code=code,
                   grant_type="authorization_code"), 40163)
    info = sns(wx, "userinfo", access_token=tok["access_token"], openid=fan, lang="zh_CN")
    assert info["openid"] == fan and info["nickname"] and info["privilege"] == []
    avatar = requests.get(info["headimgurl"], timeout=10)
    assert avatar.status_code == 200 and avatar.content[:3] == b"\xff\xd8\xff"
    assert sns(wx, "auth", access_token=tok["access_token"], openid=fan)["errcode"] == 0
    new = sns(wx, "oauth2/refresh_token", appid=appid, grant_type="refresh_token",
              refresh_token=tok["refresh_token"])
    assert new["access_token"] != tok["access_token"] and new["openid"] == fan
    assert_err(sns(wx, "oauth2/refresh_token", appid=appid, grant_type="refresh_token",
                   refresh_token="bogus"), 40030)


def test_code_expires_after_5_minutes_and_base_scope(wx, client, receiver):
    acct = client.create_account()
    appid = acct["appid"]
    (fan,) = client.create_fans(appid, 1)
    res = client.fan_open(appid, fan, authorize_url(appid, receiver.url, "snsapi_base", "z"))
    code, _ = code_from(res)
    client.advance_clock(301)
    assert_err(sns(wx, "oauth2/access_token", appid=appid, secret=acct["secret"], code=code,
                   grant_type="authorization_code"), 40029)
    res = client.fan_open(appid, fan, authorize_url(appid, receiver.url, "snsapi_base", "z"))
    code, _ = code_from(res)
    tok = sns(wx, "oauth2/access_token", appid=appid, secret=acct["secret"], code=code,
              grant_type="authorization_code")
    assert "unionid" not in tok
    assert_err(sns(wx, "userinfo", access_token=tok["access_token"], openid=fan), 48001)
    assert_err(sns(wx, "oauth2/access_token", appid=appid, secret="bad", code="c",
                   grant_type="authorization_code"), 40125)


def test_authorize_page_for_real_browsers_and_errors(wx, client):
    acct = client.create_account()
    appid = acct["appid"]
    client.create_fans(appid, 2)
    url = authorize_url(appid, "http://127.0.0.1:9/cb", host=wx.base_url)
    page = requests.get(url, timeout=10, allow_redirects=False)
    assert page.status_code == 200 and "class='fan'" in page.text and "id='allow'" in page.text
    sub = client.create_account(type="subscription")
    page = requests.get(authorize_url(sub["appid"], "http://127.0.0.1:9/cb", host=wx.base_url),
                        timeout=10)
    assert "data-code='10005'" in page.text
    r = requests.get(url.replace("#wechat_redirect", "") + "&wxsim_new=1", timeout=10,
                     allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].startswith("http://127.0.0.1:9/cb?code=")


def test_component_oauth_variant(wx, client, receiver):
    comp = client.create_component(ticket_url=receiver.url)["component"]
    cappid = comp["component_appid"]
    acct = client.create_account()
    appid = acct["appid"]
    (fan,) = client.create_fans(appid, 1)
    url = authorize_url(appid, receiver.url).replace(
        "#wechat_redirect", f"&component_appid={cappid}#wechat_redirect")
    bad = client.fan_open(appid, fan, url)
    assert bad["ok"] is False and "10015" in bad["body"]
    ticket = client.push_ticket(cappid)["ticket"]
    ctok = requests.post(f"{wx.base_url}/cgi-bin/component/api_component_token", json={
        "component_appid": cappid, "component_appsecret": comp["component_appsecret"],
        "component_verify_ticket": ticket}, timeout=10).json()["component_access_token"]
    pre = requests.post(f"{wx.base_url}/cgi-bin/component/api_create_preauthcode",
                        params={"component_access_token": ctok},
                        json={"component_appid": cappid}, timeout=10).json()["pre_auth_code"]
    client.authorize_component(cappid, appid, pre_auth_code=pre, redirect_uri="http://127.0.0.1:9/")
    code, _ = code_from(client.fan_open(appid, fan, url))
    assert_err(sns(wx, "oauth2/access_token", appid=appid, secret=acct["secret"], code=code,
                   grant_type="authorization_code"), 40029)
    code, _ = code_from(client.fan_open(appid, fan, url))
    tok = sns(wx, "oauth2/component/access_token", appid=appid, code=code,
              grant_type="authorization_code", component_appid=cappid,
              component_access_token=ctok)
    assert tok["openid"] == fan


def test_component_ticket_rules_and_61023(wx, client, receiver):
    comp = client.create_component(ticket_url=receiver.url)
    assert comp["ticket_push"]["status"] == "ok"
    cfg = comp["component"]
    cappid = cfg["component_appid"]
    url = f"{wx.base_url}/cgi-bin/component/api_component_token"
    body = {"component_appid": cappid, "component_appsecret": cfg["component_appsecret"],
            "component_verify_ticket": "ticket@@@wrong"}
    assert_err(requests.post(url, json=body, timeout=10).json(), 61006)
    body["component_verify_ticket"] = cfg["last_ticket"]
    assert "component_access_token" in requests.post(url, json=body, timeout=10).json()
    client.advance_clock(12 * 3600 + 1)
    assert_err(requests.post(url, json=body, timeout=10).json(), 61005)
    receiver.handler = lambda r: (200, "not success", 0)
    res = client.push_ticket(cappid)
    assert res["status"] == "failed" and len(res["attempts"]) == 4
    assert_err(requests.get(f"{wx.base_url}/cgi-bin/token", params={
        "grant_type": "client_credential", "appid": cappid, "secret": "x"}, timeout=10).json(),
        61024)
    ctok = requests.post(url, json={**body, "component_verify_ticket": res["ticket"]},
                         timeout=10).json()["component_access_token"]
    r = requests.post(f"{wx.base_url}/cgi-bin/component/api_authorizer_token",
                      params={"component_access_token": ctok},
                      json={"component_appid": cappid, "authorizer_appid": "wxnone",
                            "authorizer_refresh_token": "refreshtoken@@@x"}, timeout=10).json()
    assert_err(r, 61023)


def test_component_message_url_and_unauthorized_push(wx, client, receiver):
    import xmltodict
    from wechatpy.crypto import WeChatCrypto

    comp = client.create_component(ticket_url=receiver.url + "/ticket",
                                   msg_url=receiver.url + "/msg/$APPID$")["component"]
    cappid = comp["component_appid"]
    acct = client.create_account(server_url="http://127.0.0.1:9/own")
    appid = acct["appid"]
    (fan,) = client.create_fans(appid, 1)
    loc = client.authorize_component(cappid, appid, pre_auth_code=_preauth(wx, comp),
                                     redirect_uri="http://127.0.0.1:9/")["location"]
    assert "auth_code=" in loc
    res = client.fan_send_text(appid, fan, "to the third party")
    assert res["status"] == "ok"
    req = next(r for r in receiver.requests if r["path"] == f"/wechat/msg/{appid}")
    q = req["query"]
    crypto = WeChatCrypto(comp["token"], comp["encoding_aes_key"], cappid)
    msg = xmltodict.parse(crypto.decrypt_message(req["body"], q["msg_signature"],
                                                 q["timestamp"], q["nonce"]))["xml"]
    assert msg["Content"] == "to the third party" and msg["FromUserName"] == fan
    n = len(receiver.requests)
    result = client.unauthorize_component(cappid, appid)
    assert result["status"] == "ok"
    last = receiver.requests[n]
    q = last["query"]
    note = xmltodict.parse(crypto.decrypt_message(last["body"], q["msg_signature"],
                                                  q["timestamp"], q["nonce"]))["xml"]
    assert note["InfoType"] == "unauthorized" and note["AuthorizerAppid"] == appid


def _preauth(wx, comp: dict) -> str:
    cappid = comp["component_appid"]
    tok = requests.post(f"{wx.base_url}/cgi-bin/component/api_component_token", json={
        "component_appid": cappid, "component_appsecret": comp["component_appsecret"],
        "component_verify_ticket": comp["last_ticket"]}, timeout=10).json()
    return requests.post(f"{wx.base_url}/cgi-bin/component/api_create_preauthcode",
                         params={"component_access_token": tok["component_access_token"]},
                         json={"component_appid": cappid}, timeout=10).json()["pre_auth_code"]
