"""Fidelity proof: wechatpy 1.8.18, a real third-party client, drives wxsim."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import pytest
import xmltodict
from PIL import Image
from wechatpy import WeChatClient
from wechatpy.component import WeChatComponent
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import WeChatClientException
from wechatpy.utils import check_signature


def make_client(account: dict, rewrite) -> WeChatClient:
    c = WeChatClient(account["appid"], account["secret"])
    c._http = rewrite()
    return c


def test_token_and_iter_followers_across_pages(client, account, rewrite):
    appid = account["appid"]
    client.create_fans(appid, 23000)
    first = client.create_fans(appid, 5)
    client.fan_unsubscribe(appid, first[0])
    wc = make_client(account, rewrite)
    page = wc.user.get_followers()
    assert page["total"] == 23004
    assert page["count"] == 10000
    assert page["next_openid"] == page["data"]["openid"][-1]
    followers = list(wc.user.iter_followers())
    assert len(followers) == 23004
    assert len(set(followers)) == 23004
    assert first[0] not in followers and first[1] in followers


def test_get_batch_and_user_info_without_nickname(client, account, rewrite):
    appid = account["appid"]
    openids = client.create_fans(appid, 3)
    client.fan_unsubscribe(appid, openids[2])
    wc = make_client(account, rewrite)
    users = wc.user.get_batch(openids)
    assert [u["openid"] for u in users] == openids
    assert users[0]["subscribe"] == 1 and users[0]["nickname"] == ""
    assert users[0]["headimgurl"] == "" and users[0]["subscribe_time"] > 0
    assert users[2] == {"subscribe": 0, "openid": openids[2], "unionid": users[2]["unionid"]}
    info = wc.user.get(openids[1])
    assert info["subscribe_scene"].startswith("ADD_SCENE_")
    with pytest.raises(WeChatClientException) as exc:
        wc.user.get_batch(openids * 34)  # 102 entries
    assert exc.value.errcode == 45035
    with pytest.raises(WeChatClientException) as exc:
        wc.user.get("o-not-a-fan")
    assert exc.value.errcode == 40003


def test_send_text_articles_and_template(client, account, rewrite):
    appid = account["appid"]
    (openid,) = client.create_fans(appid, 1)
    wc = make_client(account, rewrite)
    with pytest.raises(WeChatClientException) as exc:
        wc.message.send_text(openid, "before any interaction")
    assert exc.value.errcode == 45015
    client.fan_send_text(appid, openid, "你好")
    assert wc.message.send_text(openid, "收到 🌸")["errcode"] == 0
    art = {"title": "标题", "description": "d", "url": "http://example.com", "image": "http://x/p.jpg"}
    assert wc.message.send_articles(openid, [art])["errcode"] == 0
    with pytest.raises(WeChatClientException) as exc:
        wc.message.send_articles(openid, [art, art])
    assert exc.value.errcode == 45008
    tpl = client.create_template(appid, "订单通知",
                                 "{{first.DATA}}\n订单：{{keyword1.DATA}}\n{{remark.DATA}}")
    templates = wc.template.get_all_private_template()["template_list"]
    assert [t["template_id"] for t in templates] == [tpl["template_id"]]
    assert set(templates[0]) == {"template_id", "title", "primary_industry", "deputy_industry",
                                 "content", "example"}
    res = wc.message.send_template(openid, tpl["template_id"],
                                   {"first": {"value": "hi"}, "keyword1": {"value": "A-1"}})
    assert res["errcode"] == 0 and res["errmsg"] == "ok" and isinstance(res["msgid"], int)
    inbox = client.inbox(appid, openid)
    assert [m["channel"] for m in inbox] == ["custom", "custom", "template"]
    assert inbox[0]["content"] == "收到 🌸"
    assert inbox[2]["text"] == "订单：A-1"


def test_qrcode_create_and_showqrcode_encodes_the_url(wx, account, rewrite):
    import segno

    wc = make_client(account, rewrite)
    res = wc.qrcode.create({"expire_seconds": 1800, "action_name": "QR_SCENE",
                            "action_info": {"scene": {"scene_id": 123}}})
    assert res["expire_seconds"] == 1800
    assert res["url"].startswith("http://weixin.qq.com/q/")
    img_url = WeChatClient.qrcode.get_url(res["ticket"]) if hasattr(
        WeChatClient.qrcode, "get_url") else None
    import requests

    r = requests.get(f"{wx.base_url}/cgi-bin/showqrcode", params={"ticket": res["ticket"]},
                     timeout=10)
    assert r.status_code == 200 and r.content[:3] == b"\xff\xd8\xff"
    img = Image.open(io.BytesIO(r.content)).convert("L")
    matrix = segno.make(res["url"], error="m", micro=False).matrix
    scale, border = 10, 4
    mismatches = 0
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            px = img.getpixel(((x + border) * scale + scale // 2, (y + border) * scale + scale // 2))
            mismatches += (px < 128) != bool(dark)
    assert mismatches == 0
    assert img_url is None or "showqrcode" in img_url
    bad = requests.get(f"{wx.base_url}/cgi-bin/showqrcode", params={"ticket": "nope"}, timeout=10)
    assert bad.status_code == 404


def test_media_upload(account, rewrite):
    wc = make_client(account, rewrite)
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buf, "JPEG")
    buf.seek(0)
    buf.name = "a.jpg"
    res = wc.media.upload("image", buf)
    assert res["type"] == "image" and len(res["media_id"]) == 64 and res["created_at"] > 0
    with pytest.raises(WeChatClientException) as exc:
        wc.media.upload("image", io.BytesIO(b"definitely not an image"))
    assert exc.value.errcode == 40005
    with pytest.raises(WeChatClientException) as exc:
        wc.media.upload("bogus", io.BytesIO(b"x"))
    assert exc.value.errcode == 40004


@pytest.mark.parametrize("mode", ["safe", "compat", "plain"])
def test_wechatpy_crypto_reads_pushes_and_replies(client, receiver, mode):
    acct = client.create_account(server_url=receiver.url, encrypt_mode=mode)
    crypto = WeChatCrypto(acct["token"], acct["encoding_aes_key"], acct["appid"])

    def handler(req):
        q = req["query"]
        reply = (f"<xml><ToUserName><![CDATA[{q['openid']}]]></ToUserName>"
                 f"<FromUserName><![CDATA[{acct['original_id']}]]></FromUserName>"
                 "<CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                 f"<Content><![CDATA[reply in {mode}]]></Content></xml>")
        if mode == "safe":
            reply = crypto.encrypt_message(reply, q["nonce"], q["timestamp"])
        return 200, reply, 0

    receiver.handler = handler
    (openid,) = client.create_fans(acct["appid"], 1)
    res = client.fan_send_text(acct["appid"], openid, "加密 <&> ]]> test")
    assert res["status"] == "reply", res
    req = receiver.requests[0]
    q = req["query"]
    check_signature(acct["token"], q["signature"], q["timestamp"], q["nonce"])
    assert q["openid"] == openid
    if mode == "plain":
        assert "encrypt_type" not in q
        plain = req["body"]
    else:
        assert q["encrypt_type"] == "aes"
        plain = crypto.decrypt_message(req["body"], q["msg_signature"], q["timestamp"],
                                       q["nonce"])
    msg = xmltodict.parse(plain)["xml"]
    assert msg["Content"] == "加密 <&> ]]> test"
    assert msg["FromUserName"] == openid and msg["MsgType"] == "text"
    assert int(msg["MsgId"]) == res["msg_id"]
    if mode == "compat":
        assert "<Content>" in req["body"] and "<Encrypt>" in req["body"]
    if mode == "safe":
        assert "<Content>" not in req["body"]
    inbox = client.inbox(acct["appid"], openid)
    assert inbox[-1]["channel"] == "passive" and inbox[-1]["content"] == f"reply in {mode}"


def test_component_flow_with_wechatpy(client, receiver, rewrite, wx):
    comp_cfg = client.create_component(ticket_url=receiver.url, push_ticket=False)["component"]
    acct = client.create_account()
    client.create_fans(acct["appid"], 3)
    component = WeChatComponent(comp_cfg["component_appid"], comp_cfg["component_appsecret"],
                                comp_cfg["token"], comp_cfg["encoding_aes_key"])
    component._http = rewrite()
    component.API_BASE_URL = wx.base_url + "/cgi-bin"

    def feed(req):
        q = req["query"]
        return component.parse_message(req["body"], q["msg_signature"], q["timestamp"],
                                       q["nonce"])

    client.push_ticket(comp_cfg["component_appid"])
    msg = feed(receiver.requests[-1])
    assert msg.type == "component_verify_ticket"
    assert component.component_verify_ticket.startswith("ticket@@@")

    url = component.get_pre_auth_url("http://127.0.0.1:9/after-auth")
    assert url.startswith("https://mp.weixin.qq.com/cgi-bin/componentloginpage?")
    res = client.open_url(url, pick=acct["appid"])
    final = urlsplit(res["chain"][-1]["url"] if res["chain"][-1].get("location") is None
                     else res["chain"][-1]["location"])
    redirect = [c for c in res["chain"] if c.get("location", "").startswith("http://127.0.0.1:9")]
    assert redirect, res
    q = parse_qs(urlsplit(redirect[0]["location"]).query)
    auth_code = q["auth_code"][0]
    assert q["expires_in"] == ["600"] and final

    receiver.wait(2)
    authorized = feed(receiver.requests[-1])  # wechatpy runs query_auth itself here
    assert authorized.type == "authorized"
    assert authorized.authorizer_appid == acct["appid"]
    info = authorized.query_auth_result["authorization_info"]
    assert info["authorizer_appid"] == acct["appid"]
    with pytest.raises(WeChatClientException):
        component.query_auth(auth_code)  # auth codes are single use

    wc = component.get_client_by_appid(acct["appid"])
    wc._http = rewrite()
    assert wc.user.get_followers()["total"] == 3
    old_refresh = info["authorizer_refresh_token"]
    refreshed = component.refresh_authorizer_token(acct["appid"], old_refresh)
    assert refreshed["authorizer_refresh_token"] == old_refresh
    details = component.get_authorizer_info(acct["appid"])
    assert details["authorizer_info"]["user_name"] == acct["original_id"]

    # Re-authorization issues a new refresh token and invalidates the old one (61023).
    url2 = component.get_pre_auth_url("http://127.0.0.1:9/again")
    client.open_url(url2, pick=acct["appid"])
    with pytest.raises(WeChatClientException) as exc:
        component.refresh_authorizer_token(acct["appid"], old_refresh)
    assert exc.value.errcode == 61023
