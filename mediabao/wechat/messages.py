"""Callback XML in (defusedxml only) and passive-reply XML out.

Inbound documents are flat ``<xml>`` elements (WECHAT.md §4); DTDs are refused
outright, so billion-laughs and external-entity documents fail fast with
:class:`InvalidXML` instead of expanding or fetching anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as DET


class InvalidXML(ValueError):
    """The body is not a WeChat XML document."""


def parse_xml(body: bytes | str) -> dict[str, Any]:
    """``<xml>`` children as a dict (nested elements become dicts, ``Articles`` a list)."""
    try:
        root = DET.fromstring(body, forbid_dtd=True, forbid_entities=True,
                              forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise InvalidXML(str(exc) or type(exc).__name__) from exc
    if root.tag != "xml":
        raise InvalidXML("root element is not <xml>")
    return _children(root)


def _children(elem: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in elem:
        if len(child):
            value: Any = ([_children(item) for item in child] if child.tag == "Articles"
                          else _children(child))
        else:
            value = child.text or ""
        out[child.tag] = value
    return out


def cdata(value: str) -> str:
    return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


@dataclass
class Article:
    title: str
    description: str = ""
    pic_url: str = ""
    url: str = ""


@dataclass
class Reply:
    """A passive reply; subclasses render their own body."""

    msg_type = ""

    def body(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def render(self, to_user: str, from_user: str, create_time: int | None = None) -> str:
        return (f"<xml><ToUserName>{cdata(to_user)}</ToUserName>"
                f"<FromUserName>{cdata(from_user)}</FromUserName>"
                f"<CreateTime>{int(create_time or time.time())}</CreateTime>"
                f"<MsgType>{cdata(self.msg_type)}</MsgType>{self.body()}</xml>")


@dataclass
class TextReply(Reply):
    content: str = ""
    msg_type = "text"

    def body(self) -> str:
        return f"<Content>{cdata(self.content)}</Content>"


@dataclass
class ImageReply(Reply):
    media_id: str = ""
    msg_type = "image"

    def body(self) -> str:
        return f"<Image><MediaId>{cdata(self.media_id)}</MediaId></Image>"


@dataclass
class NewsReply(Reply):
    """One article only: WeChat refuses more (45008, WECHAT.md §3)."""

    articles: list[Article] = field(default_factory=list)
    msg_type = "news"

    def __post_init__(self) -> None:
        if len(self.articles) != 1:
            raise ValueError("a news reply carries exactly one article")

    def body(self) -> str:
        items = "".join(
            f"<item><Title>{cdata(a.title)}</Title><Description>{cdata(a.description)}</Description>"
            f"<PicUrl>{cdata(a.pic_url)}</PicUrl><Url>{cdata(a.url)}</Url></item>"
            for a in self.articles
        )
        return f"<ArticleCount>{len(self.articles)}</ArticleCount><Articles>{items}</Articles>"
