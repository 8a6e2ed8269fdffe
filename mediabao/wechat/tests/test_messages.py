"""XML in through defusedxml only; replies out in WeChat's shape."""

from __future__ import annotations

import pytest

from mediabao.wechat.messages import (
    Article,
    ImageReply,
    InvalidXML,
    NewsReply,
    TextReply,
    parse_xml,
)

TEXT = b"""<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName>
<CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[this is a test]]></Content><MsgId>1234567890123456</MsgId></xml>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<xml><Content>&lol4;</Content></xml>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><Content>&xxe;</Content></xml>"""


def test_parses_a_text_message():
    message = parse_xml(TEXT)
    assert message["MsgType"] == "text" and message["Content"] == "this is a test"
    assert message["MsgId"] == "1234567890123456" and message["CreateTime"] == "1348831860"


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, b"", b"not xml", b"{\"json\": 1}",
                                  b"<root><a>1</a></root>", b"<xml><unclosed></xml>", b"\xff\xfe"])
def test_hostile_or_broken_documents_are_a_clean_error(body):
    with pytest.raises(InvalidXML):
        parse_xml(body)


def test_text_reply_escapes_cdata_terminators():
    xml = TextReply("a]]>b").render("fan", "gh_1", 1)
    assert parse_xml(xml)["Content"] == "a]]>b"
    assert parse_xml(xml)["ToUserName"] == "fan" and parse_xml(xml)["MsgType"] == "text"


def test_image_and_news_replies():
    assert parse_xml(ImageReply("m1").render("fan", "gh", 1))["Image"] == {"MediaId": "m1"}
    news = parse_xml(NewsReply([Article("标题", "描述", "http://p", "http://u")]).render("fan", "gh", 1))
    assert news["ArticleCount"] == "1"
    assert news["Articles"] == [{"Title": "标题", "Description": "描述", "PicUrl": "http://p",
                                 "Url": "http://u"}]
    with pytest.raises(ValueError):
        NewsReply([Article("a"), Article("b")])
