"""Web OAuth (网页授权): the authorize page, ``sns/oauth2/*`` and ``sns/userinfo``.

Scripted fans (the control API's browser) are approved automatically; a real
browser without a fan identity gets a small page listing fans to click. Codes
are single use (40163) and expire after 5 minutes (40029).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from aiohttp import web

from .. import names
from ..errors import WxError
from ..keys import SIM
from ..state import Account, OAuthCode, TokenInfo, rand_str
from . import Ctx, endpoint

CODE_TTL = 300
SNS_TTL = 7200
REFRESH_TTL = 30 * 86400
SCOPES = ("snsapi_base", "snsapi_userinfo")


class PageError(Exception):
    """An error shown on the authorize page (WeChat's 100xx page codes)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text


def add_query(url: str, params: dict) -> str:
    parts = urlsplit(url)
    q = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, q, parts.fragment))


def check_request(sim, params: Mapping[str, str]) -> Account:  # type: ignore[no-untyped-def]
    """Validate an authorize request; raises PageError like WeChat's error page."""
    appid = params.get("appid", "")
    if not appid:
        raise PageError(10012, "appid 参数错误")
    if not params.get("redirect_uri"):
        raise PageError(10011, "redirect_uri 参数错误")
    scope = params.get("scope", "")
    if not scope:
        raise PageError(10010, "scope 参数错误")
    if scope not in SCOPES:
        raise PageError(10005, "此公众号并没有这些scope的权限")
    if params.get("response_type", "code") != "code":
        raise PageError(10003, "response_type 参数错误")
    acct = sim.state.accounts.get(appid)
    if acct is None:
        raise PageError(10016, "appid 参数错误")
    if scope == "snsapi_userinfo" and not (acct.type == "service" and acct.verified):
        raise PageError(10005, "此公众号并没有这些scope的权限")
    redirect = params["redirect_uri"]
    if not redirect.startswith(("http://", "https://")):
        raise PageError(10003, "redirect_uri 参数错误")
    comp = params.get("component_appid")
    if comp and comp not in acct.components:
        raise PageError(10015, "公众号未授权第三方平台，请检查授权状态")
    return acct


def approve(sim, acct: Account, params: Mapping[str, str], fan: int) -> str:  # type: ignore[no-untyped-def]
    """Issue a code for ``fan`` and return the redirect location."""
    code = rand_str(32)
    sim.state.oauth_codes[code] = OAuthCode(
        code, acct.appid, fan, params.get("scope", "snsapi_base"), sim.clock.now(),
        params.get("component_appid", ""),
    )
    q = {"code": code, "state": params.get("state", "")}
    return add_query(params["redirect_uri"], q)


def visitor(sim, acct: Account) -> int:  # type: ignore[no-untyped-def]
    """A new, non-following person opening the page."""
    return acct.fans.add(False, 0)


def _page(title: str, body: str, status: int = 200) -> web.Response:
    doc = (
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title></head><body>{body}</body></html>"
    )
    return web.Response(text=doc, status=status, content_type="text/html")


async def authorize_page(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIM]
    params = dict(request.query)
    try:
        acct = check_request(sim, params)
    except PageError as exc:
        return _page("微信授权", f"<h2 id='error' data-code='{exc.code}'>{exc.code}</h2>"
                     f"<p>{html.escape(exc.text)}</p>")
    openid = params.pop("wxsim_openid", "") or request.headers.get("X-Wxsim-Openid", "")
    new = params.pop("wxsim_new", "")
    if openid or new:
        fan = acct.fans.index.get(openid) if openid else visitor(sim, acct)
        if fan is None:
            return _page("微信授权", "<h2 id='error'>unknown wxsim_openid</h2>", 400)
        raise web.HTTPFound(approve(sim, acct, params, fan))
    # A page a browser test can click: choose who you are, then allow.
    base = {k: v for k, v in params.items() if not k.startswith("wxsim_")}
    links = []
    fans = acct.fans
    for i in range(min(len(fans), 20)):
        q = urlencode({**base, "wxsim_openid": fans.openids[i]})
        links.append(
            f"<li><a class='fan' href='/connect/oauth2/authorize?{html.escape(q)}'>"
            f"允许 · {html.escape(fans.nickname(i))}</a></li>"
        )
    newq = urlencode({**base, "wxsim_new": "1"})
    scope_text = "获取你的昵称、头像" if params.get("scope") == "snsapi_userinfo" else "获取你的身份"
    body = (
        f"<h2>{html.escape(acct.name)}</h2><p>申请{scope_text}</p>"
        f"<p><a id='allow' href='/connect/oauth2/authorize?{html.escape(newq)}'>允许</a></p>"
        f"<ul id='fans'>{''.join(links)}</ul>"
    )
    return _page("微信授权", body)


def _sns_token(sim, acct: Account, fan: int, scope: str) -> dict:  # type: ignore[no-untyped-def]
    now = sim.clock.now()
    tok = rand_str(110, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
    sim.state.tokens[tok] = TokenInfo(acct.appid, now + SNS_TTL, "sns", (fan, scope))
    rt = rand_str(110, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
    sim.state.sns_refresh[rt] = TokenInfo(acct.appid, now + REFRESH_TTL, "sns_refresh",
                                          (fan, scope))
    out = {"access_token": tok, "expires_in": SNS_TTL, "refresh_token": rt,
           "openid": acct.fans.openids[fan], "scope": scope}
    if scope == "snsapi_userinfo":
        out["unionid"] = acct.fans.unionid(fan)
    return out


def _use_code(sim, appid: str, code: str | None) -> OAuthCode:  # type: ignore[no-untyped-def]
    if not code:
        raise WxError(41008)
    oc = sim.state.oauth_codes.get(code)
    if oc is None or oc.appid != appid:
        raise WxError(40029)
    if oc.used:
        raise WxError(40163)
    if oc.created_at + CODE_TTL <= sim.clock.now():
        raise WxError(40029)
    oc.used = True
    return oc


@endpoint("/sns/oauth2/access_token", auth="none", name="sns/oauth2/access_token")
async def access_token(ctx: Ctx) -> dict:
    q = ctx.query
    appid = q.get("appid", "")
    acct = ctx.sim.state.accounts.get(appid)
    if not appid:
        raise WxError(41002)
    if acct is None:
        raise WxError(40013)
    ctx.acct = acct
    if q.get("secret") != acct.secret:
        raise WxError(40125)
    if q.get("grant_type") != "authorization_code":
        raise WxError(40002)
    oc = _use_code(ctx.sim, appid, q.get("code"))
    if oc.component_appid:
        raise WxError(40029)
    return _sns_token(ctx.sim, acct, oc.fan, oc.scope)


def _component_check(ctx: Ctx, acct: Account) -> None:
    q = ctx.query
    cappid = q.get("component_appid", "")
    info = ctx.sim.state.check_token(q.get("component_access_token"), ("component",))
    if info.owner != cappid:
        raise WxError(61011)
    if cappid not in acct.components:
        raise WxError(61003)


@endpoint("/sns/oauth2/component/access_token", auth="none",
          name="sns/oauth2/component/access_token")
async def component_access_token(ctx: Ctx) -> dict:
    q = ctx.query
    acct = ctx.sim.state.accounts.get(q.get("appid", ""))
    if acct is None:
        raise WxError(40013)
    ctx.acct = acct
    _component_check(ctx, acct)
    if q.get("grant_type") != "authorization_code":
        raise WxError(40002)
    oc = _use_code(ctx.sim, acct.appid, q.get("code"))
    return _sns_token(ctx.sim, acct, oc.fan, oc.scope)


def _refresh(ctx: Ctx, acct: Account) -> dict:
    q = ctx.query
    if q.get("grant_type") != "refresh_token":
        raise WxError(40002)
    rt = q.get("refresh_token", "")
    info = ctx.sim.state.sns_refresh.get(rt)
    if info is None or info.owner != acct.appid:
        raise WxError(40030)
    if info.expires_at <= ctx.sim.clock.now():
        raise WxError(42002)
    fan, scope = info.extra
    out = _sns_token(ctx.sim, acct, fan, scope)
    ctx.sim.state.sns_refresh.pop(out["refresh_token"], None)
    out["refresh_token"] = rt
    return out


@endpoint("/sns/oauth2/refresh_token", auth="none", name="sns/oauth2/refresh_token")
async def refresh_token(ctx: Ctx) -> dict:
    acct = ctx.sim.state.accounts.get(ctx.query.get("appid", ""))
    if acct is None:
        raise WxError(40013)
    ctx.acct = acct
    return _refresh(ctx, acct)


@endpoint("/sns/oauth2/component/refresh_token", auth="none",
          name="sns/oauth2/component/refresh_token")
async def component_refresh_token(ctx: Ctx) -> dict:
    acct = ctx.sim.state.accounts.get(ctx.query.get("appid", ""))
    if acct is None:
        raise WxError(40013)
    ctx.acct = acct
    _component_check(ctx, acct)
    return _refresh(ctx, acct)


def _sns_user(ctx: Ctx) -> tuple[Account, int, str]:
    info = ctx.sim.state.check_token(ctx.query.get("access_token"), ("sns",))
    acct = ctx.sim.state.accounts[info.owner]
    ctx.acct = acct
    fan, scope = info.extra
    if ctx.query.get("openid") != acct.fans.openids[fan]:
        raise WxError(40003)
    return acct, fan, scope


@endpoint("/sns/userinfo", auth="none", name="sns/userinfo")
async def userinfo(ctx: Ctx) -> dict:
    acct, fan, scope = _sns_user(ctx)
    if scope != "snsapi_userinfo":
        raise WxError(48001)
    fans = acct.fans
    prof = names.profile(fans.seed, fan)
    return {
        "openid": fans.openids[fan],
        "nickname": fans.nickname(fan),
        **prof,
        "headimgurl": f"{ctx.sim.base_url}/mmopen/{acct.appid}/{fans.openids[fan]}/132",
        "privilege": [],
        "unionid": fans.unionid(fan),
    }


@endpoint("/sns/auth", auth="none", name="sns/auth")
async def sns_auth(ctx: Ctx) -> dict:
    _sns_user(ctx)
    return {"errcode": 0, "errmsg": "ok"}


async def avatar(request: web.Request) -> web.Response:
    """Serves ``headimgurl``: a real JPEG drawn for the fan (size 0/46/64/96/132)."""
    sim = request.app[SIM]
    acct = sim.state.accounts.get(request.match_info["appid"])
    fan = acct.fans.index.get(request.match_info["openid"]) if acct else None
    if acct is None or fan is None:
        return web.Response(status=404, text="not found")
    size = {"0": 640, "46": 46, "64": 64, "96": 96, "132": 132}.get(
        request.match_info["size"], 132)
    return web.Response(body=names.avatar_jpeg(acct.fans.seed, fan, size),
                        content_type="image/jpeg")


def setup_pages(app: web.Application, guard: Any) -> None:
    app.router.add_get("/connect/oauth2/authorize", guard(authorize_page))
    app.router.add_get("/mmopen/{appid}/{openid}/{size}", guard(avatar))


