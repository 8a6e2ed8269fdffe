"""Web OAuth (网页授权): the authorize link, the code exchange, the fan's profile.

Since 2021-12-27 ``user/info`` has no nickname or avatar; ``snsapi_userinfo`` OAuth is
the only source (WECHAT.md §1.3, §1.7). Accounts authorized through the third-party
platform use the component variants of the link and of the code exchange.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from mediabao.wechat.client import request
from mediabao.wechat.models import OfficialAccount

STATE_RE = re.compile(r"^[A-Za-z0-9]{1,128}$")


@dataclass(frozen=True)
class OAuthResult:
    openid: str
    access_token: str
    scope: str
    unionid: str = ""


def authorize_url(account: OfficialAccount, redirect_uri: str, *, state: str,
                  scope: str = "snsapi_userinfo") -> str:
    """The link a fan opens in WeChat; WeChat sends them to ``redirect_uri?code=…&state=…``."""
    if not STATE_RE.match(state):
        raise ValueError("state must be 1-128 letters or digits")
    params = {"appid": account.appid, "redirect_uri": redirect_uri, "response_type": "code",
              "scope": scope, "state": state}
    if account.auth_mode == OfficialAccount.AuthMode.COMPONENT:
        params["component_appid"] = settings.WECHAT_COMPONENT_APPID
    return f"{settings.WECHAT_OPEN_BASE}/connect/oauth2/authorize?{urlencode(params)}#wechat_redirect"


def exchange_code(account: OfficialAccount, code: str) -> OAuthResult:
    """A single-use code (5 minutes) → the fan's openid and a web access token."""
    if account.auth_mode == OfficialAccount.AuthMode.COMPONENT:
        from mediabao.wechat import component

        data = request("GET", "sns/oauth2/component/access_token", appid=account.appid, params={
            "appid": account.appid, "code": code, "grant_type": "authorization_code",
            "component_appid": settings.WECHAT_COMPONENT_APPID,
            "component_access_token": component.component_token(),
        })
    else:
        data = request("GET", "sns/oauth2/access_token", appid=account.appid, params={
            "appid": account.appid, "secret": account.appsecret, "code": code,
            "grant_type": "authorization_code",
        })
    return OAuthResult(openid=str(data.get("openid", "")), access_token=str(data.get("access_token", "")),
                       scope=str(data.get("scope", "")), unionid=str(data.get("unionid", "") or ""))


def userinfo(result: OAuthResult) -> dict[str, Any]:
    """Nickname and avatar (``snsapi_userinfo`` only)."""
    return request("GET", "sns/userinfo", params={"access_token": result.access_token,
                                                  "openid": result.openid, "lang": "zh_CN"})
