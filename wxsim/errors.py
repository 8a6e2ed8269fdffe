"""WeChat error codes and the exact JSON error body WeChat returns.

Errors are HTTP 200 with ``{"errcode": N, "errmsg": "<text> rid: xxxxxxxx-xxxxxxxx-xxxxxxxx"}``.
Handlers raise :class:`WxError`; the dispatcher turns it into that body.
"""

from __future__ import annotations

import json
import os

ERRMSG: dict[int, str] = {
    -1: "system error",
    0: "ok",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40004: "invalid media type",
    40005: "invalid file type",
    40006: "invalid meida size",
    40007: "invalid media_id",
    40008: "invalid message type",
    40009: "invalid image size",
    40010: "invalid voice size",
    40011: "invalid video size",
    40012: "invalid thumb size",
    40013: "invalid appid",
    40014: "invalid access_token",
    40029: "invalid code",
    40030: "invalid refresh_token",
    40036: "invalid template_id size",
    40037: "invalid template_id",
    40052: "invalid action name",
    40053: "invalid action info",
    40097: "invalid args",
    40125: "invalid appsecret",
    40163: "code been used",
    40246: "invalid keyword_name_list",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41005: "media data missing",
    41008: "missing code",
    41009: "missing openid",
    42001: "access_token expired",
    42002: "refresh_token expired",
    43004: "require subscribe",
    43019: "require remove blacklist",
    44002: "empty post data",
    45008: "article size out of limit",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit must slower retry next minute",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    45026: "template num exceeds limit",
    45065: "clientmsgid exist",
    45067: "clientmsgid size out of limit",
    46004: "user not exist",
    47001: "data format error",
    47003: "argument invalid!",
    48001: "api unauthorized",
    50002: "user limited",
    61003: "component is not authorized by this account",
    61004: "access clientip is not registered",
    61005: "component ticket is expired",
    61006: "component ticket is invalid",
    61007: "api is unauthorized to component",
    61011: "invalid component",
    61023: "refresh_token is invalid",
    61024: "must use api(api_component_token) to get token for component acct",
}


def rid() -> str:
    """A request id in WeChat's ``xxxxxxxx-xxxxxxxx-xxxxxxxx`` shape."""
    h = os.urandom(12).hex()
    return f"{h[:8]}-{h[8:16]}-{h[16:]}"


def errmsg(code: int, detail: str | None = None) -> str:
    return f"{detail or ERRMSG.get(code, 'system error')} rid: {rid()}"


def err_body(code: int, detail: str | None = None) -> dict:
    return {"errcode": code, "errmsg": errmsg(code, detail)}


def err_bytes(code: int, detail: str | None = None) -> bytes:
    return json.dumps(err_body(code, detail), ensure_ascii=False).encode()


class WxError(Exception):
    """A WeChat API error: becomes HTTP 200 + errcode/errmsg."""

    def __init__(self, code: int, detail: str | None = None) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    def body(self) -> dict:
        return err_body(self.code, self.detail)
