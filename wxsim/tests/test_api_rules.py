"""WeChat's rules as wxsim enforces them: tokens, quotas, templates, windows, media, QR."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from .helpers import Api, assert_err


@pytest.fixture
def api(wx, account) -> Api:
    return Api(wx.base_url, account)


def test_token_overlap_then_40001_and_expiry_42001(api, client):
    old = api.fetch_token()
    new = api.fetch_token()
    assert old != new and len(new) > 100
    assert "total" in api.get("user/get", token=old)  # old token: 5-minute overlap
    client.advance_clock(301)
    assert_err(api.get("user/get", token=old), 40001)
    assert "total" in api.get("user/get", token=new)
    client.advance_clock(7200)
    assert_err(api.get("user/get", token=new), 42001)


def test_token_errors(wx, api):
    base = f"{wx.base_url}/cgi-bin/token"
    acct = api.account
    q = {"grant_type": "client_credential", "appid": acct["appid"], "secret": "wrong"}
    assert_err(requests.get(base, params=q, timeout=5).json(), 40125)
    assert_err(requests.get(base, params={**q, "appid": "wxnope"}, timeout=5).json(), 40013)
    assert_err(requests.get(base, params={**q, "grant_type": "x"}, timeout=5).json(), 40002)
    assert_err(api.get("user/get", token=""), 41001)
    assert_err(api.get("user/get", token="not a token!"), 40014)
    assert_err(api.get("user/get", token="A" * 130), 40001)


def test_stable_token_isolated_and_reused(wx, api):
    acct = api.account
    body = {"grant_type": "client_credential", "appid": acct["appid"], "secret": acct["secret"]}
    url = f"{wx.base_url}/cgi-bin/stable_token"
    a = requests.post(url, json=body, timeout=5).json()
    b = requests.post(url, json=body, timeout=5).json()
    assert a["access_token"] == b["access_token"] and b["expires_in"] <= 7200
    plain = api.fetch_token()
    assert plain != a["access_token"]
    assert "total" in api.get("user/get", token=a["access_token"])
    forced = requests.post(url, json={**body, "force_refresh": True}, timeout=5).json()
    assert forced["access_token"] != a["access_token"]
    assert_err(api.get("user/get", token=a["access_token"]), 40001)


def test_daily_quota_45009_and_clear_quota(api, client):
    appid = api.account["appid"]
    client.set_quota(appid, "token", limit=3)
    for _ in range(3):
        api.fetch_token()
    r = requests.get(f"{api.base}/cgi-bin/token", params={
        "grant_type": "client_credential", "appid": appid,
        "secret": api.account["secret"]}, timeout=5).json()
    assert_err(r, 45009)
    client.set_quota(appid, "user/get", exhaust=True)
    assert_err(api.get("user/get"), 45009)
    assert api.post("clear_quota", {"appid": appid}) == {"errcode": 0, "errmsg": "ok"}
    assert "total" in api.get("user/get")
    client.set_quota(appid, "user/get", exhaust=True)
    client.advance_clock(86400)  # a new day resets the counters
    api.fetch_token()
    assert "total" in api.get("user/get")


def _template(client, appid, content="{{first.DATA}}\n订单：{{keyword1.DATA}}\n{{remark.DATA}}"):
    return client.create_template(appid, "通知", content)["template_id"]


def test_template_send_dedup_43004_40037(api, client):
    appid = api.account["appid"]
    a, b = client.create_fans(appid, 2)
    tid = _template(client, appid)
    body = {"touser": a, "template_id": tid, "client_msg_id": "job1-r1",
            "data": {"keyword1": {"value": "x"}}}
    r1 = api.post("message/template/send", body)
    r2 = api.post("message/template/send", body)
    assert r1["errcode"] == 0 and r1["msgid"] == r2["msgid"]
    assert len(client.inbox(appid, a)) == 1
    client.advance_clock(601)
    api.fetch_token()
    r3 = api.post("message/template/send", body)
    assert r3["msgid"] != r1["msgid"] and len(client.inbox(appid, a)) == 2
    assert_err(api.post("message/template/send", {**body, "client_msg_id": "x" * 65}), 45067)
    client.fan_unsubscribe(appid, b)
    assert_err(api.post("message/template/send", {**body, "touser": b, "client_msg_id": "z"}),
               43004)
    assert_err(api.post("message/template/send", {**body, "template_id": "nope"}), 40037)
    assert_err(api.post("message/template/send", {**body, "touser": "o-unknown"}), 40003)


def test_legacy_template_cut_at_20_and_first_remark_hidden(api, client):
    appid = api.account["appid"]
    (a,) = client.create_fans(appid, 1)
    tid = _template(client, appid)
    long = "一二三四五六七八九十" * 3
    res = api.post("message/template/send", {"touser": a, "template_id": tid, "data": {
        "first": {"value": "首行"}, "keyword1": {"value": long}, "remark": {"value": "备注"}}})
    assert res["errcode"] == 0
    msg = client.inbox(appid, a)[-1]
    assert msg["data"] == {"keyword1": long[:20] + "…"}
    assert msg["text"] == "订单：" + long[:20] + "…"


@pytest.mark.parametrize(("key", "value", "ok"), [
    ("thing1", "短短的内容", True),
    ("thing1", "超" * 21, False),
    ("amount2", "¥39.80元", True),
    ("amount2", "三十九元", False),
    ("character_string3", "AB-123_x", True),
    ("character_string3", "订单123", False),
    ("time4", "2024-05-01 14:30~15:00", True),
    ("time4", "25:00", False),
    ("phrase5", "已发货", True),
    ("phrase5", "已经发货了呀", False),
    ("phone_number6", "+86 138-0000-0000", True),
    ("number7", "12.5", True),
    ("number7", "十二", False),
])
def test_category_template_rules_47003(api, client, key, value, ok):
    appid = api.account["appid"]
    (a,) = client.create_fans(appid, 1)
    tid = _template(client, appid, f"项目:{{{{{key}.DATA}}}}")
    res = api.post("message/template/send", {"touser": a, "template_id": tid,
                                              "data": {key: {"value": value}}})
    if ok:
        assert res["errcode"] == 0, res
        assert client.inbox(appid, a)[-1]["data"] == {key: value}
    else:
        assert_err(res, 47003)
        assert res["errmsg"].startswith(f"argument invalid! data.{key}.value invalid")


def test_api_add_and_del_template(api):
    r = api.post("template/api_add_template", {"template_id_short": "OPENTM207498902"})
    assert r["errcode"] == 0
    tid = r["template_id"]
    assert_err(api.post("template/api_add_template", {"template_id_short": "12345"}), 40246)
    cat = api.post("template/api_add_template",
                   {"template_id_short": "12345", "keyword_name_list": ["商品名称", "金额"]})
    lst = api.get("template/get_all_private_template")["template_list"]
    content = next(t["content"] for t in lst if t["template_id"] == cat["template_id"])
    assert "{{thing1.DATA}}" in content and "{{amount2.DATA}}" in content
    assert api.post("template/del_private_template", {"template_id": tid})["errcode"] == 0
    assert_err(api.post("template/del_private_template", {"template_id": tid}), 40037)


def test_customer_service_windows_45015_45047(api, client):
    appid = api.account["appid"]
    a, b = client.create_fans(appid, 2)
    text = {"touser": a, "msgtype": "text", "text": {"content": "hi"}}
    assert_err(api.post("message/custom/send", text), 45015)
    client.fan_send_text(appid, a, "在吗")
    for _ in range(5):
        assert api.post("message/custom/send", text)["errcode"] == 0
    assert_err(api.post("message/custom/send", text), 45047)
    client.fan_send_text(appid, a, "again")
    assert api.post("message/custom/send", text)["errcode"] == 0
    client.advance_clock(48 * 3600 + 1)
    api.fetch_token()
    assert_err(api.post("message/custom/send", text), 45015)
    # subscribe / click / scan: 3 sends for one minute
    client.fan_unsubscribe(appid, b)
    client.fan_subscribe(appid, b)
    tb = {**text, "touser": b}
    for _ in range(3):
        assert api.post("message/custom/send", tb)["errcode"] == 0
    assert_err(api.post("message/custom/send", tb), 45047)
    client.fan_click(appid, b, "MENU_1")
    assert api.post("message/custom/send", tb)["errcode"] == 0
    client.advance_clock(61)
    api.fetch_token()
    assert_err(api.post("message/custom/send", tb), 45015)


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), "blue").save(buf, "JPEG")
    return buf.getvalue()


def test_custom_send_types_media_expiry_and_45008(api, client):
    appid = api.account["appid"]
    (a,) = client.create_fans(appid, 1)
    client.fan_send_text(appid, a, "hi")
    up = requests.post(f"{api.base}/cgi-bin/media/upload",
                       params={"access_token": api.fetch_token(), "type": "image"},
                       files={"media": ("p.jpg", _jpeg(), "image/jpeg")}, timeout=10).json()
    img = {"touser": a, "msgtype": "image", "image": {"media_id": up["media_id"]}}
    assert api.post("message/custom/send", img)["errcode"] == 0
    assert_err(api.post("message/custom/send", {**img, "image": {"media_id": "nope"}}), 40007)
    art = {"title": "t", "description": "d", "url": "http://x", "picurl": "http://x/p"}
    news = {"touser": a, "msgtype": "news", "news": {"articles": [art, art]}}
    assert_err(api.post("message/custom/send", news), 45008)
    assert_err(api.post("message/custom/send", {"touser": a, "msgtype": "bogus", "bogus": {}}),
               40008)
    client.advance_clock(3 * 86400)
    client.fan_send_text(appid, a, "hi again")
    api.fetch_token()
    assert_err(api.post("message/custom/send", img), 40007)
    r = requests.get(f"{api.base}/cgi-bin/media/get",
                     params={"access_token": api.token, "media_id": up["media_id"]}, timeout=5)
    assert_err(r.json(), 40007)


def test_media_size_limits(api):
    big_thumb = b"\xff\xd8\xff" + b"0" * (64 * 1024 + 10)
    r = requests.post(f"{api.base}/cgi-bin/media/upload",
                      params={"access_token": api.fetch_token(), "type": "thumb"},
                      files={"media": ("t.jpg", big_thumb, "image/jpeg")}, timeout=10).json()
    assert_err(r, 40012)
    r = requests.post(f"{api.base}/cgi-bin/media/upload",
                      params={"access_token": api.token, "type": "image"}, timeout=10).json()
    assert_err(r, 41005)
    mat = requests.post(f"{api.base}/cgi-bin/material/add_material",
                        params={"access_token": api.token, "type": "image"},
                        files={"media": ("p.jpg", _jpeg(), "image/jpeg")}, timeout=10).json()
    assert mat["media_id"] and mat["url"].startswith(api.base)
    assert requests.get(mat["url"], timeout=5).content[:3] == b"\xff\xd8\xff"


def test_qrcode_ranges_and_permanent_cap(api, client):
    appid = api.account["appid"]

    def qr(body):
        return api.post("qrcode/create", body)

    t = qr({"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 7}}})
    assert t["expire_seconds"] == 60  # default
    t = qr({"expire_seconds": 99999999, "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": "abc"}}})
    assert t["expire_seconds"] == 2592000
    assert_err(qr({"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 0}}}), 40053)
    assert_err(qr({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 0}}}),
               40053)
    assert_err(qr({"action_name": "QR_LIMIT_SCENE",
                   "action_info": {"scene": {"scene_id": 100001}}}), 40053)
    assert_err(qr({"action_name": "QR_LIMIT_STR_SCENE",
                   "action_info": {"scene": {"scene_str": "x" * 65}}}), 40053)
    assert_err(qr({"action_name": "QR_LIMIT_STR_SCENE",
                   "action_info": {"scene": {"scene_str": ""}}}), 40053)
    assert_err(qr({"action_name": "QR_BOGUS"}), 40052)
    p1 = qr({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100000}}})
    assert "expire_seconds" not in p1 and p1["url"].startswith("http://weixin.qq.com/q/")
    again = qr({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100000}}})
    assert again["ticket"] == p1["ticket"]
    client.update_account(appid, qr_permanent_cap=2)
    qr({"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "s1"}}})
    assert_err(qr({"action_name": "QR_LIMIT_STR_SCENE",
                   "action_info": {"scene": {"scene_str": "s2"}}}), 40053)


def test_temporary_qr_expires(api, client):
    appid = api.account["appid"]
    (fan,) = client.create_fans(appid, 1, following=False)
    t = api.post("qrcode/create", {"expire_seconds": 120, "action_name": "QR_SCENE",
                                   "action_info": {"scene": {"scene_id": 5}}})
    client.advance_clock(121)
    r = requests.get(f"{api.base}/cgi-bin/showqrcode", params={"ticket": t["ticket"]}, timeout=5)
    assert r.status_code == 404
    with pytest.raises(Exception, match="expired"):
        client.fan_scan(appid, fan, t["ticket"])


def test_permissions_48001_for_unverified_or_subscription(wx, client):
    sub = client.create_account(type="subscription")
    api = Api(wx.base_url, sub)
    assert_err(api.post("message/template/send", {"touser": "x"}), 48001)
    assert_err(api.post("qrcode/create", {"action_name": "QR_SCENE"}), 48001)
    unv = client.create_account(verified=False)
    api2 = Api(wx.base_url, unv)
    assert_err(api2.get("user/get"), 48001)


BAD_BODIES = [b"", b"{", b"[1,2]", b"null", b'"str"', b"\xff\xfe\x00garbage",
              b'{"touser": ["list"], "template_id": {"a": 1}, "data": "x"}',
              b'{"touser": 1, "msgtype": 5}', b'{"user_list": "x"}',
              b'{"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": "abc"}}}',
              b'{"action_name": "QR_SCENE", "action_info": [], "expire_seconds": "x"}',
              b'{"touser": {"x": 1}, "msgtype": "text", "text": {"content": ["a"]}}']
POST_PATHS = ["message/template/send", "message/custom/send", "user/info/batchget",
              "qrcode/create", "template/api_add_template", "template/del_private_template",
              "message/custom/typing", "user/info/updateremark", "clear_quota",
              "stable_token", "component/api_component_token",
              "component/api_create_preauthcode", "material/del_material"]


def test_bad_input_never_500(api, client):
    appid = api.account["appid"]
    client.create_fans(appid, 1)
    api.fetch_token()
    for path in POST_PATHS:
        for raw in BAD_BODIES:
            r = api.http.post(f"{api.base}/cgi-bin/{path}", params={"access_token": api.token},
                              data=raw, timeout=10)
            assert r.status_code == 200, (path, raw, r.text)
            body = r.json()
            assert body["errcode"] not in (0, -1), (path, raw, body)
    for path in ["user/get?next_openid=unknown", "user/info?openid=", "user/info?openid=x&lang=xx",
                 "media/get?media_id=", "showqrcode?ticket="]:
        r = api.http.get(f"{api.base}/cgi-bin/{path}&access_token={api.token}", timeout=10)
        assert r.status_code in (200, 404) and "Traceback" not in r.text
    for path in ["/sns/oauth2/access_token", "/sns/userinfo", "/sns/oauth2/refresh_token",
                 "/sns/auth", "/cgi-bin/unknown/endpoint"]:
        r = api.http.get(f"{api.base}{path}", params={"appid": appid, "access_token": "x" * 20},
                         timeout=10)
        assert r.status_code == 200 and r.json()["errcode"] not in (0, -1), (path, r.text)
    counters = client.counters()
    assert all("-1" not in c["by_errcode"] for c in counters.values()), counters
