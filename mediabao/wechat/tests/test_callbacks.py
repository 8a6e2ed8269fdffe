"""The callback URL: signatures, modes, bad input, dedup, dispatch and passive replies."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

import pytest

from mediabao.wechat import kv
from mediabao.wechat.callbacks import dedup_key
from mediabao.wechat.messages import TextReply, parse_xml
from mediabao.wechat.models import Event, OfficialAccount
from wxsim.crypto import WXBizMsgCrypt, sha1_signature

pytestmark = [pytest.mark.django_db, pytest.mark.urls("mediabao.wechat.tests.urls")]

OPENID = "oFAN0000000000000000000001"
TS, NONCE = "1700000000", "1234567890"


def xml_of(fields: dict) -> str:
    inner = "".join(f"<{k}><![CDATA[{v}]]></{k}>" if not isinstance(v, int) else f"<{k}>{v}</{k}>"
                    for k, v in fields.items())
    return f"<xml>{inner}</xml>"


def text_message(account, content="你好", msg_id=1001, openid=OPENID) -> str:
    return xml_of({"ToUserName": account.original_id or "gh_test", "FromUserName": openid,
                   "CreateTime": 1700000000, "MsgType": "text", "Content": content, "MsgId": msg_id})


def subscribe_event(account, scene="qrscene_123", openid=OPENID) -> str:
    return xml_of({"ToUserName": account.original_id or "gh_test", "FromUserName": openid,
                   "CreateTime": 1700000001, "MsgType": "event", "Event": "subscribe",
                   "EventKey": scene, "Ticket": "TICKET"})


class Push:
    """Builds WeChat's requests for one account (crypto from wxsim: an independent implementation)."""

    def __init__(self, client, account, appid_in_trailer=None):
        self.client, self.account = client, account
        self.crypt = WXBizMsgCrypt(account.callback_token, account.encoding_aes_key,
                                   appid_in_trailer or account.appid)
        self.url = f"/wechat/callback/{account.appid}/"

    def query(self, **extra) -> dict:
        return {"signature": sha1_signature(self.account.callback_token, TS, NONCE),
                "timestamp": TS, "nonce": NONCE, "openid": OPENID, **extra}

    def post(self, body, query=None):
        body = body.encode() if isinstance(body, str) else body
        return self.client.post(f"{self.url}?{urlencode(query or self.query())}", data=body,
                                content_type="text/xml")

    def plain(self, xml):
        return self.post(xml)

    def safe(self, xml, msg_signature=None, query=None):
        enc = self.crypt.encrypt(xml)
        body = xml_of({"ToUserName": "gh_test", "Encrypt": enc})
        q = query or self.query(encrypt_type="aes", msg_signature=msg_signature or sha1_signature(
            self.account.callback_token, TS, NONCE, enc))
        return self.post(body, q)

    def compat(self, xml):
        enc = self.crypt.encrypt(xml)
        body = xml[:-len("</xml>")] + f"<Encrypt><![CDATA[{enc}]]></Encrypt></xml>"
        return self.post(body, self.query(encrypt_type="aes", msg_signature=sha1_signature(
            self.account.callback_token, TS, NONCE, enc)))

    def decrypt_reply(self, response) -> dict:
        doc = parse_xml(response.content)
        assert doc["MsgSignature"] == sha1_signature(self.account.callback_token, doc["TimeStamp"],
                                                     doc["Nonce"], doc["Encrypt"])
        return parse_xml(self.crypt.decrypt(doc["Encrypt"]))


@pytest.fixture
def push(client, account):
    return Push(client, account)


@pytest.fixture
def seen(handlers):
    """A text and a subscribe handler that record what they saw."""
    calls = []

    @handlers.on("text", "subscribe")
    def record(ctx):
        calls.append((ctx.kind, ctx.openid, ctx.scene, ctx.event.pk))

    return calls


def test_get_verification_echoes_echostr(push, client, account):
    q = push.query(echostr="4375120948345356249")
    response = client.get(f"{push.url}?{urlencode(q)}")
    assert response.status_code == 200 and response.content == b"4375120948345356249"


def test_get_with_a_forged_signature_is_403(push, client):
    response = client.get(f"{push.url}?{urlencode(push.query(signature='0' * 40, echostr='x'))}")
    assert response.status_code == 403 and b"x" not in response.content


def test_unknown_account_is_404(client, db):
    assert client.post("/wechat/callback/wxnope/?signature=x", data=b"<xml/>",
                       content_type="text/xml").status_code == 404
    assert client.get("/wechat/callback/wxnope/").status_code == 404


def test_other_methods_are_405(push, client):
    assert client.put(push.url).status_code == 405


def test_plain_text_is_stored_and_dispatched(push, account, seen):
    response = push.plain(text_message(account, "在吗"))
    assert response.status_code == 200 and response.content == b"success"
    event = Event.objects.get()
    assert (event.team_id, event.account_id, event.openid, event.msg_type) == (
        account.team_id, account.pk, OPENID, "text")
    assert event.payload["Content"] == "在吗" and event.create_time == 1700000000
    assert seen == [("text", OPENID, "", event.pk)]
    account.refresh_from_db()
    assert account.last_event_at is not None


def test_safe_mode_subscribe_with_scene_gets_an_encrypted_reply(push, account, seen, handlers):
    @handlers.on("subscribe")
    def welcome(ctx):
        return TextReply(f"欢迎，来自场景 {ctx.scene}")

    response = push.safe(subscribe_event(account))
    assert response.status_code == 200
    reply = push.decrypt_reply(response)
    assert reply["MsgType"] == "text" and reply["Content"] == "欢迎，来自场景 123"
    assert reply["ToUserName"] == OPENID
    event = Event.objects.get()
    assert (event.event, event.event_key) == ("subscribe", "qrscene_123")
    assert seen[0][:3] == ("subscribe", OPENID, "123")


def test_compat_mode_is_accepted(push, account, seen):
    response = push.compat(text_message(account))
    assert response.status_code == 200 and response.content == b"success"
    assert Event.objects.count() == 1 and seen


def test_wrong_signature_is_403_and_nothing_stored(push, account, seen):
    response = push.post(text_message(account), push.query(signature="f" * 40))
    assert response.status_code == 403
    assert Event.objects.count() == 0 and not seen


def test_wrong_msg_signature_is_403_and_nothing_stored(push, account):
    response = push.safe(text_message(account), msg_signature="0" * 40)
    assert response.status_code == 403 and Event.objects.count() == 0


def test_ciphertext_for_another_appid_is_403(client, account):
    response = Push(client, account, appid_in_trailer="wx0000000000000000").safe(text_message(account))
    assert response.status_code == 403 and Event.objects.count() == 0


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><FromUserName>&lol3;</FromUserName><MsgType>text</MsgType><CreateTime>1</CreateTime></xml>"""
XXE = """<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><FromUserName>&xxe;</FromUserName><MsgType>text</MsgType><CreateTime>1</CreateTime></xml>"""


@pytest.mark.parametrize("body", ["not xml at all", "{\"MsgType\": \"text\"}", BILLION_LAUGHS, XXE,
                                  "<xml><MsgType>text</MsgType></xml>", ""])
def test_bad_bodies_are_400_and_nothing_stored(push, body):
    response = push.plain(body)
    assert response.status_code == 400 and Event.objects.count() == 0
    assert b"Traceback" not in response.content


@pytest.mark.parametrize("inner", [BILLION_LAUGHS, XXE, "garbage"])
def test_hostile_documents_inside_the_envelope_are_400(push, inner):
    response = push.safe(inner)
    assert response.status_code == 400 and Event.objects.count() == 0


def test_a_10_mb_body_is_refused_quickly(push, account):
    body = text_message(account).replace("你好", "x" * (10 * 1024 * 1024))
    started = time.monotonic()
    response = push.plain(body)
    assert response.status_code == 400 and time.monotonic() - started < 2
    assert Event.objects.count() == 0


def test_an_account_without_a_token_refuses_everything(push, client, account):
    OfficialAccount.objects.filter(pk=account.pk).update(callback_token="")
    response = client.get(f"{push.url}?{urlencode(push.query(echostr='x'))}")
    assert response.status_code == 403


def test_a_replayed_push_is_processed_once_and_gets_the_same_reply(push, account, handlers):
    hits = []

    @handlers.on("text")
    def echo(ctx):
        hits.append(ctx.event.pk)
        return TextReply("收到")

    first = push.safe(text_message(account, msg_id=777))
    second = push.safe(text_message(account, msg_id=777))
    assert push.decrypt_reply(first)["Content"] == push.decrypt_reply(second)["Content"] == "收到"
    assert len(hits) == 1 and Event.objects.count() == 1


def test_dedup_survives_a_lost_redis_key(push, account, seen):
    push.plain(subscribe_event(account))
    message = parse_xml(subscribe_event(account))
    kv.client().delete(kv.key("dedup", account.appid, dedup_key(message)))
    assert push.plain(subscribe_event(account)).content == b"success"
    assert Event.objects.count() == 1 and len(seen) == 1


def test_events_dedup_on_openid_createtime_and_event(push, account):
    push.plain(subscribe_event(account))
    push.plain(subscribe_event(account, openid="oOTHER"))
    push.plain(subscribe_event(account).replace("subscribe", "unsubscribe"))
    assert Event.objects.count() == 3


def test_a_failing_handler_does_not_stop_the_others_or_the_reply(push, account, handlers, caplog):
    ran = []

    @handlers.on("text", priority=10)
    def broken(ctx):
        OfficialAccount.objects.filter(pk=ctx.account.pk).update(name="rolled back")
        raise RuntimeError("boom")

    @handlers.on("*", priority=20)
    def fine(ctx):
        ran.append(ctx.kind)
        return TextReply("还在")

    with caplog.at_level(logging.ERROR):
        response = push.plain(text_message(account))
    assert response.status_code == 200
    assert parse_xml(response.content)["Content"] == "还在"
    assert ran == ["text"] and Event.objects.count() == 1
    assert "boom" in caplog.text
    account.refresh_from_db()
    assert account.name != "rolled back"


def test_a_handler_returning_garbage_still_answers_success(push, account, handlers):
    @handlers.on("text")
    def wrong(ctx):
        return "not a reply"

    assert push.plain(text_message(account)).content == b"success"


COMPONENT = {"WECHAT_COMPONENT_APPID": "wxcomponent00000001", "WECHAT_COMPONENT_SECRET": "s" * 32,
             "WECHAT_COMPONENT_TOKEN": "componenttoken",
             "WECHAT_COMPONENT_AES_KEY": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"}


def test_an_authorized_account_is_pushed_with_the_platforms_keys(client, account, settings, seen):
    for name, value in COMPONENT.items():
        setattr(settings, name, value)
    OfficialAccount.objects.filter(pk=account.pk).update(auth_mode=OfficialAccount.AuthMode.COMPONENT)
    account.refresh_from_db()
    platform = OfficialAccount(appid=account.appid, callback_token=COMPONENT["WECHAT_COMPONENT_TOKEN"],
                               encoding_aes_key=COMPONENT["WECHAT_COMPONENT_AES_KEY"])
    push = Push(client, platform, appid_in_trailer=COMPONENT["WECHAT_COMPONENT_APPID"])
    assert push.safe(text_message(account)).content == b"success"
    assert Event.objects.count() == 1 and seen
    # The account's own keys (or the account's appid in the trailer) are not the platform's.
    assert Push(client, account).safe(text_message(account, msg_id=2)).status_code == 403
    wrong_trailer = Push(client, platform)
    assert wrong_trailer.safe(text_message(account, msg_id=3)).status_code == 403


def test_an_authorized_account_without_platform_settings_is_refused(push, account, settings):
    settings.WECHAT_COMPONENT_APPID = ""
    OfficialAccount.objects.filter(pk=account.pk).update(auth_mode=OfficialAccount.AuthMode.COMPONENT)
    assert push.safe(text_message(account)).status_code == 403
    assert Event.objects.count() == 0


def test_mangled_pushes_are_refused_cleanly_never_500(push, account):
    """Truncated, bit-flipped and re-signed bodies: always 200/400/403, never a server error."""
    import random

    rng = random.Random(4)
    enc = push.crypt.encrypt(text_message(account, msg_id=99))
    good = xml_of({"ToUserName": "gh_test", "Encrypt": enc}).encode()
    statuses = set()
    for i in range(120):
        body = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        if i % 3 == 0:
            body = body[: rng.randrange(len(body))]
        inner = b""
        if i % 4 == 0:  # validly signed, but the ciphertext is garbage or truncated
            inner = enc[: rng.randrange(len(enc))].encode()
            body = b"<xml><Encrypt><![CDATA[" + inner + b"]]></Encrypt></xml>"
        sig = sha1_signature(account.callback_token, TS, NONCE, inner.decode() if inner else enc)
        response = push.post(bytes(body), push.query(encrypt_type="aes", msg_signature=sig))
        statuses.add(response.status_code)
        assert response.status_code in (200, 400, 403), (i, response.status_code)
    assert statuses <= {200, 400, 403} and 400 in statuses
    assert Event.objects.count() <= 1
