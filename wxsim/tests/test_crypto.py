"""Crypto and signature test vectors from WECHAT.md §4 (and wechatpy's test suite)."""

from __future__ import annotations

import base64

import pytest
from wechatpy.crypto import WeChatCrypto

from wxsim.crypto import CryptoError, WXBizMsgCrypt, pkcs7_pad, pkcs7_unpad, sha1_signature

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


@pytest.mark.parametrize(
    ("token", "timestamp", "nonce", "expected"),
    [
        ("AAAAA", "1714036504", "1514711492", "f464b24fc39322e44b38aa78f5edd27bd1441696"),
        ("AAAAA", "1714037059", "486452656", "899cf89e464efb63f54ddac96b0a0a235f53aa78"),
    ],
)
def test_url_signature_vectors(token, timestamp, nonce, expected):
    assert sha1_signature(token, timestamp, nonce) == expected


def test_aes_vector_encrypt_and_signature():
    c = WXBizMsgCrypt(TOKEN, KEY, APPID)
    enc = c.encrypt(REPLY, random_prefix=b"1234567890123456")
    assert enc == EXPECTED_ENCRYPT
    assert c.signature("1411525903", "461056294", enc) == "407518b7649e86ef23978113f92d27afa9296533"
    envelope = c.encrypt_reply(REPLY, "1411525903", "461056294", b"1234567890123456")
    assert "<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>" \
        in envelope


def test_aes_vector_decrypts_with_pad_3():
    c = WXBizMsgCrypt(TOKEN, KEY, APPID)
    assert len(REPLY.encode()) == 247
    assert c.decrypt(EXPECTED_ENCRYPT) == REPLY
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = base64.b64decode(KEY + "=")
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    raw = dec.update(base64.b64decode(EXPECTED_ENCRYPT)) + dec.finalize()
    assert raw[-1] == 3 and raw[-3:] == b"\x03\x03\x03"


def test_wechatpy_decrypt_vector():
    body = (
        "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHC"
        "rsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXp"
        "XaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQ"
        "iMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQ"
        "ipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
    )
    c = WXBizMsgCrypt(TOKEN, KEY, APPID)
    assert c.signature("1411525903", "461056294", body) == "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
    plain = c.decrypt(body)
    assert "<Content><![CDATA[test]]></Content>" in plain


def test_roundtrip_with_wechatpy_both_ways():
    c = WXBizMsgCrypt(TOKEN, KEY, APPID)
    wp = WeChatCrypto(TOKEN, KEY, APPID)
    text = "<xml><Content><![CDATA[中文 🌸 emoji]]></Content></xml>"
    enc = c.encrypt(text)
    sig = c.signature("1", "2", enc)
    envelope = f"<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>"
    assert wp.decrypt_message(envelope, sig, "1", "2") == text
    reply = wp.encrypt_message(text, "nonce9", "12345")
    import re

    enc2 = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]>", reply).group(1)
    assert c.decrypt(enc2) == text


def test_padding_and_tampering():
    assert len(pkcs7_pad(b"a" * 32)) == 64 and pkcs7_pad(b"a" * 32)[-1] == 32
    assert pkcs7_unpad(pkcs7_pad(b"abc")) == b"abc"
    c = WXBizMsgCrypt(TOKEN, KEY, APPID)
    other = WXBizMsgCrypt(TOKEN, KEY, "wxsomeoneelse")
    with pytest.raises(CryptoError):
        c.decrypt(other.encrypt("hi"))
    with pytest.raises(CryptoError):
        c.decrypt("not base64 !!")
    with pytest.raises(CryptoError):
        WXBizMsgCrypt(TOKEN, "short", APPID)
