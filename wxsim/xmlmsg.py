"""Small XML helpers: WeChat-style CDATA documents out, defusedxml parsing in."""

from __future__ import annotations

from xml.etree.ElementTree import ParseError

from defusedxml import ElementTree as DET


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def build(fields: list[tuple[str, object]]) -> str:
    """``<xml>`` with strings as CDATA and ints bare, like WeChat's pushes."""
    parts = ["<xml>"]
    for name, value in fields:
        if isinstance(value, int) and not isinstance(value, bool):
            parts.append(f"<{name}>{value}</{name}>")
        else:
            parts.append(f"<{name}>{cdata(str(value))}</{name}>")
    parts.append("</xml>")
    return "".join(parts)


def parse(text: str | bytes) -> dict:
    """Parse a flat-ish WeChat XML document into a dict (nested for Articles/Image…)."""
    try:
        root = DET.fromstring(text)
    except ParseError as exc:
        raise ValueError(f"malformed XML: {exc}") from exc
    if root.tag != "xml":
        raise ValueError("root element is not <xml>")
    return _children(root)


def _children(elem) -> dict:  # type: ignore[no-untyped-def]
    out: dict = {}
    for child in elem:
        if len(child):
            value: object = _children(child)
            if child.tag == "Articles":
                value = [_children(item) for item in child]
        else:
            value = child.text or ""
        out[child.tag] = value
    return out
