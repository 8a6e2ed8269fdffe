"""Callback crypto against WECHAT.md §4's vectors, wechatpy and wxsim."""

from __future__ import annotations

import base64

import pytest
from wechatpy.crypto import WeChatCrypto

from mediabao.wechat import crypto
from wxsim.crypto import WXBizMsgCrypt

TOKEN = "123456"
KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
APPID = "wx49f0ab532d5d035a"
REPLY = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
EXPECTED_ENCRYPT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcB"
    "qGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0n"
    "FhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwb"
    "gX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3"
    "ypD3WeK2XeFYFMNMpatF9XiKzHo3"
)


@pytest.mark.parametrize(("timestamp", "nonce", "expected"), [
    ("1714036504", "1514711492", "f464b24fc39322e44b38aa78f5edd27bd1441696"),
    ("1714037059", "486452656", "899cf89e464efb63f54ddac96b0a0a235f53aa78"),
])
def test_url_signature_vectors(timestamp, nonce, expected):
    assert crypto.signature("AAAAA", timestamp, nonce) == expected
    crypto.check_signature("AAAAA", expected, timestamp, nonce)
    with pytest.raises(crypto.InvalidSignature):
        crypto.check_signature("AAAAB", expected, timestamp, nonce)


def test_encrypt_vector_and_msg_signature():
    mc = crypto.MessageCrypto(TOKEN, KEY, APPID)
    encrypted = mc.encrypt(REPLY, random_prefix=b"1234567890123456")
    assert encrypted == EXPECTED_ENCRYPT
    assert crypto.signature(TOKEN, "1411525903", "461056294", encrypted) == \
        "407518b7649e86ef23978113f92d27afa9296533"
    envelope = mc.encrypt_reply(REPLY, "1411525903", "461056294", b"1234567890123456")
    assert "<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>" in envelope
    assert f"<Encrypt><![CDATA[{EXPECTED_ENCRYPT}]]></Encrypt>" in envelope


def test_decrypt_vector_with_pad_3():
    mc = crypto.MessageCrypto(TOKEN, KEY, APPID)
    assert len(REPLY.encode()) == 247
    assert mc.decrypt(EXPECTED_ENCRYPT) == REPLY
    assert mc.decrypt_message("407518b7649e86ef23978113f92d27afa9296533", "1411525903", "461056294",
                              EXPECTED_ENCRYPT) == REPLY


def test_pkcs7_pads_to_32_with_a_full_block_when_aligned():
    assert crypto.pkcs7_pad(b"a" * 32)[-1] == 32 and len(crypto.pkcs7_pad(b"a" * 32)) == 64
    assert crypto.pkcs7_pad(b"a" * 31) == b"a" * 31 + b"\x01"
    assert crypto.pkcs7_unpad(crypto.pkcs7_pad(b"xyz")) == b"xyz"


def test_other_appid_trailer_is_refused():
    other = crypto.MessageCrypto(TOKEN, KEY, "wx0000000000000000")
    with pytest.raises(crypto.InvalidAppId):
        other.decrypt(EXPECTED_ENCRYPT)


def test_wrong_msg_signature_is_refused_before_decrypting():
    mc = crypto.MessageCrypto(TOKEN, KEY, APPID)
    with pytest.raises(crypto.InvalidSignature):
        mc.decrypt_message("0" * 40, "1411525903", "461056294", EXPECTED_ENCRYPT)


@pytest.mark.parametrize("garbage", ["", "not base64!", base64.b64encode(b"short").decode(),
                                     base64.b64encode(b"x" * 32).decode()])
def test_garbage_ciphertext_is_a_clean_error(garbage):
    with pytest.raises(crypto.CryptoError):
        crypto.MessageCrypto(TOKEN, KEY, APPID).decrypt(garbage)


def test_bad_encoding_aes_key_is_refused():
    with pytest.raises(crypto.CryptoError):
        crypto.MessageCrypto(TOKEN, "short", APPID)


def test_round_trips_with_wechatpy_and_wxsim():
    mine = crypto.MessageCrypto(TOKEN, KEY, APPID)
    theirs = WeChatCrypto(TOKEN, KEY, APPID)
    sim = WXBizMsgCrypt(TOKEN, KEY, APPID)
    text = "<xml><Content><![CDATA[你好，媒体宝]]></Content></xml>"
    assert sim.decrypt(mine.encrypt(text)) == text
    assert mine.decrypt(sim.encrypt(text)) == text
    envelope = mine.encrypt_reply(text, "1700000000", "42")
    assert theirs.decrypt_message(envelope, crypto.signature(
        TOKEN, "1700000000", "42", envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]),
        "1700000000", "42") == text
