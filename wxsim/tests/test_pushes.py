"""Event pushes: formats, retries with the same CreateTime/MsgId, job-finish events."""

from __future__ import annotations

import xmltodict

from .helpers import Api


def parse(body: str) -> dict:
    return xmltodict.parse(body)["xml"]


def test_push_retries_keep_createtime_and_msgid(client, receiver):
    acct = client.create_account(server_url=receiver.url)
    (fan,) = client.create_fans(acct["appid"], 1)
    answers = iter([(500, "oops", 0), (200, "<not xml", 0), (200, "success", 0)])
    receiver.handler = lambda r: next(answers)
    res = client.fan_send_text(acct["appid"], fan, "retry me")
    assert res["status"] == "ok" and len(res["attempts"]) == 3
    bodies = [parse(r["body"]) for r in receiver.requests]
    assert len({b["MsgId"] for b in bodies}) == 1 and bodies[0]["MsgId"] == str(res["msg_id"])
    assert len({b["CreateTime"] for b in bodies}) == 1
    assert all(m["channel"] != "system" for m in client.inbox(acct["appid"], fan))


def test_push_timeout_retries_then_unavailable_notice(client, receiver):
    acct = client.create_account(server_url=receiver.url)
    (fan,) = client.create_fans(acct["appid"], 1)
    client.set_push(timeout=0.2)
    try:
        receiver.handler = lambda r: (200, "success", 0.5)
        res = client.fan_send_text(acct["appid"], fan, "slow")
    finally:
        client.set_push(timeout=1.0)
    assert res["status"] == "failed" and res["error"] == "timeout"
    assert len(res["attempts"]) == 4  # the first try plus 3 retries
    assert len(receiver.wait(4)) == 4
    inbox = client.inbox(acct["appid"], fan)
    assert inbox[-1]["channel"] == "system"
    assert inbox[-1]["content"] == "该公众号暂时无法提供服务，请稍后再试"
    log = client.pushes(acct["appid"])
    assert log[-1]["attempts"] == 4 and log[-1]["status"] == "failed"


def test_subscribe_scan_unsubscribe_click_view_events(wx, client, receiver):
    acct = client.create_account(server_url=receiver.url)
    appid = acct["appid"]
    api = Api(wx.base_url, acct)
    (fan,) = client.create_fans(appid, 1, following=False)
    qr = api.post("qrcode/create", {"expire_seconds": 600, "action_name": "QR_SCENE",
                                    "action_info": {"scene": {"scene_id": 123123}}})
    client.fan_scan(appid, fan, qr["url"])  # scanning the url works like the image
    client.fan_scan(appid, fan, qr["ticket"])
    client.fan_click(appid, fan, "V1001_TODAY_MUSIC")
    client.fan_action(appid, fan, "view", url="http://127.0.0.1:9/page", open=False)
    client.fan_unsubscribe(appid, fan)
    client.fan_subscribe(appid, fan)
    events = [parse(r["body"]) for r in receiver.requests]
    sub = events[0]
    assert sub["Event"] == "subscribe" and sub["EventKey"] == "qrscene_123123"
    assert sub["Ticket"] == qr["ticket"] and sub["ToUserName"] == acct["original_id"]
    assert events[1]["Event"] == "SCAN" and events[1]["EventKey"] == "123123"
    assert (events[2]["Event"], events[2]["EventKey"]) == ("CLICK", "V1001_TODAY_MUSIC")
    assert (events[3]["Event"], events[3]["EventKey"]) == ("VIEW", "http://127.0.0.1:9/page")
    assert events[4]["Event"] == "unsubscribe"
    assert events[5]["Event"] == "subscribe" and not events[5].get("EventKey")
    info = api.get("user/info", openid=fan)
    assert info["subscribe"] == 1 and info["subscribe_scene"] == "ADD_SCENE_SEARCH"


def test_subscribe_by_ticket_sets_qr_scene(wx, client):
    acct = client.create_account()
    api = Api(wx.base_url, acct)
    (fan,) = client.create_fans(acct["appid"], 1, following=False)
    qr = api.post("qrcode/create", {"action_name": "QR_LIMIT_STR_SCENE",
                                    "action_info": {"scene": {"scene_str": "poster:42"}}})
    res = client.fan_subscribe(acct["appid"], fan, ticket=qr["ticket"])
    assert res["pushed"] is False and "qrscene_poster:42" in res["xml"]
    info = api.get("user/info", openid=fan)
    assert info["subscribe_scene"] == "ADD_SCENE_QR_CODE" and info["qr_scene_str"] == "poster:42"


def test_template_job_finish_push(wx, client, receiver):
    acct = client.create_account(server_url=receiver.url, encrypt_mode="safe")
    appid = acct["appid"]
    api = Api(wx.base_url, acct)
    ok_fan, blocked = client.create_fans(appid, 2)
    client.fan_action(appid, blocked, "block")
    tid = client.create_template(appid, "t", "内容：{{keyword1.DATA}}")["template_id"]
    r1 = api.post("message/template/send", {"touser": ok_fan, "template_id": tid, "data": {}})
    r2 = api.post("message/template/send", {"touser": blocked, "template_id": tid, "data": {}})
    assert r1["errcode"] == 0 and r2["errcode"] == 0
    assert client.drain_pushes()
    from wechatpy.crypto import WeChatCrypto

    crypto = WeChatCrypto(acct["token"], acct["encoding_aes_key"], appid)
    got = {}
    for req in receiver.wait(2):
        q = req["query"]
        msg = parse(crypto.decrypt_message(req["body"], q["msg_signature"], q["timestamp"],
                                           q["nonce"]))
        assert msg["Event"] == "TEMPLATESENDJOBFINISH"
        got[int(msg["MsgID"])] = msg["Status"]
    assert got == {r1["msgid"]: "success", r2["msgid"]: "failed:user block"}
    assert client.inbox(appid, blocked) == []
    client.set_fault("message/template/send", appid=appid, template_failed_rate=1.0)
    try:
        r3 = api.post("message/template/send", {"touser": ok_fan, "template_id": tid, "data": {}})
        assert client.drain_pushes()
        last = receiver.wait(3)[-1]
        q = last["query"]
        msg = parse(crypto.decrypt_message(last["body"], q["msg_signature"], q["timestamp"],
                                           q["nonce"]))
        assert (int(msg["MsgID"]), msg["Status"]) == (r3["msgid"], "failed: system failed")
    finally:
        client.clear_faults()


def test_pushes_can_be_disabled(client, receiver):
    acct = client.create_account(server_url=receiver.url, pushes_enabled=False)
    (fan,) = client.create_fans(acct["appid"], 1)
    res = client.fan_send_text(acct["appid"], fan, "quiet")
    assert res["pushed"] is False and receiver.requests == []


def test_bad_passive_replies_are_invalid(client, receiver):
    acct = client.create_account(server_url=receiver.url, encrypt_mode="safe")
    (fan,) = client.create_fans(acct["appid"], 1)
    receiver.handler = lambda r: (200, "<xml><MsgType>text</MsgType><Content>x</Content></xml>", 0)
    res = client.fan_send_text(acct["appid"], fan, "hi")
    assert res["status"] == "failed" and "plaintext reply in safe mode" in res["error"]
