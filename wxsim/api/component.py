"""Third-party platform (component): ticket pushes, tokens, pre-auth, authorize page.

The simulated account admin picks one of the accounts on the authorize page; the
browser is sent to ``redirect_uri?auth_code=…&expires_in=600`` and the component
gets an ``authorized`` (or ``updateauthorized``) push. Re-authorizing replaces the
authorizer refresh token, so the old one gets 61023.
"""

from __future__ import annotations

import asyncio
import html
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..errors import WxError
from ..keys import SIM
from ..state import Authorization, Component, rand_str
from . import Ctx, endpoint, str_field
from .oauth import add_query

if TYPE_CHECKING:
    from ..app import Sim

log = logging.getLogger("wxsim.component")
TICKET_TTL = 12 * 3600
PREAUTH_TTL = 600
AUTH_CODE_TTL = 600
FUNC_IDS = [1, 2, 3, 4, 6, 7, 11, 15, 22, 23, 24, 26, 33, 35]


async def push_ticket(sim: Sim, comp: Component) -> dict:
    ticket = "ticket@@@" + rand_str(86, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
    comp.tickets.append((ticket, sim.clock.now()))
    del comp.tickets[:-5]
    result = await sim.pusher.push_component(comp, [("ComponentVerifyTicket", ticket)],
                                             "component_verify_ticket")
    result["ticket"] = ticket
    return result


async def ticket_loop(sim: Sim) -> None:
    """Push a fresh component_verify_ticket to every component every interval."""
    while True:
        await asyncio.sleep(sim.ticket_interval)
        for comp in list(sim.state.components.values()):
            try:
                await push_ticket(sim, comp)
            except Exception:  # noqa: BLE001 - the loop must survive a bad component
                log.exception("ticket push to %s failed", comp.appid)


def _component(ctx: Ctx, body: dict) -> Component:
    info = ctx.sim.state.check_token(ctx.query.get("component_access_token")
                                     or ctx.query.get("access_token"), ("component",))
    cappid = body.get("component_appid", info.owner)
    if cappid != info.owner:
        raise WxError(61011)
    return ctx.sim.state.components[info.owner]


@endpoint("/cgi-bin/component/api_component_token", ("POST",), auth="none",
          name="component/api_component_token")
async def component_token(ctx: Ctx) -> dict:
    body = await ctx.json()
    cappid = str_field(body, "component_appid", 41002)
    comp = ctx.sim.state.components.get(cappid)
    if comp is None:
        raise WxError(61011)
    secret = body.get("component_appsecret")
    if not secret:
        raise WxError(41004)
    if secret != comp.secret:
        raise WxError(40125)
    ticket = body.get("component_verify_ticket")
    now = ctx.sim.clock.now()
    match = next((t for t in comp.tickets if t[0] == ticket), None)
    if match is None:
        raise WxError(61006)
    if match[1] + TICKET_TTL <= now:
        raise WxError(61005)
    tok = ctx.sim.state.issue_token(comp.appid, "component", comp.tokens)
    return {"component_access_token": tok, "expires_in": 7200}


@endpoint("/cgi-bin/component/api_create_preauthcode", ("POST",), auth="none",
          name="component/api_create_preauthcode")
async def create_preauthcode(ctx: Ctx) -> dict:
    comp = _component(ctx, await ctx.json())
    code = "preauthcode@@@" + rand_str(48)
    comp.preauth[code] = (ctx.sim.clock.now() + PREAUTH_TTL, False)
    return {"pre_auth_code": code, "expires_in": PREAUTH_TTL}


def _func_info(ids: list[int]) -> list[dict]:
    return [{"funcscope_category": {"id": i}} for i in ids]


@endpoint("/cgi-bin/component/api_query_auth", ("POST",), auth="none",
          name="component/api_query_auth")
async def query_auth(ctx: Ctx) -> dict:
    body = await ctx.json()
    comp = _component(ctx, body)
    code = str_field(body, "authorization_code", 61010)
    entry = comp.auth_codes.get(code)
    if entry is None or entry[2] or entry[1] <= ctx.sim.clock.now():
        raise WxError(61010, "code is expired or invalid")
    appid = entry[0]
    comp.auth_codes[code] = (appid, entry[1], True)
    auth = comp.authorizations[appid]
    acct = ctx.sim.state.accounts[appid]
    ctx.acct = acct
    tok = ctx.sim.state.issue_token(appid, "authorizer", acct.authorizer_tokens)
    return {"authorization_info": {
        "authorizer_appid": appid,
        "authorizer_access_token": tok,
        "expires_in": 7200,
        "authorizer_refresh_token": auth.refresh_token,
        "func_info": _func_info(auth.func_ids),
    }}


@endpoint("/cgi-bin/component/api_authorizer_token", ("POST",), auth="none",
          name="component/api_authorizer_token")
async def authorizer_token(ctx: Ctx) -> dict:
    body = await ctx.json()
    comp = _component(ctx, body)
    appid = str_field(body, "authorizer_appid", 40013)
    auth = comp.authorizations.get(appid)
    rt = body.get("authorizer_refresh_token")
    if auth is None or not rt or rt != auth.refresh_token:
        raise WxError(61023)
    acct = ctx.sim.state.accounts[appid]
    ctx.acct = acct
    tok = ctx.sim.state.issue_token(appid, "authorizer", acct.authorizer_tokens)
    return {"authorizer_access_token": tok, "expires_in": 7200,
            "authorizer_refresh_token": auth.refresh_token}


@endpoint("/cgi-bin/component/api_get_authorizer_info", ("POST",), auth="none",
          name="component/api_get_authorizer_info")
async def get_authorizer_info(ctx: Ctx) -> dict:
    body = await ctx.json()
    comp = _component(ctx, body)
    appid = str_field(body, "authorizer_appid", 40013)
    auth = comp.authorizations.get(appid)
    if auth is None:
        raise WxError(61003)
    acct = ctx.sim.state.accounts[appid]
    ctx.acct = acct
    return {
        "authorizer_info": {
            "nick_name": acct.name,
            "head_img": f"{ctx.sim.base_url}/mmopen/{appid}/head/132",
            "service_type_info": {"id": 2 if acct.type == "service" else 0},
            "verify_type_info": {"id": 0 if acct.verified else -1},
            "user_name": acct.original_id,
            "alias": "",
            "qrcode_url": "",
            "business_info": {"open_pay": 0, "open_shake": 0, "open_scan": 0,
                              "open_card": 0, "open_store": 0},
            "principal_name": "模拟企业有限公司",
            "idc": 1,
            "signature": "wxsim 模拟公众号",
        },
        "authorization_info": {
            "authorizer_appid": appid,
            "func_info": _func_info(auth.func_ids),
        },
    }


@endpoint("/cgi-bin/component/api_get_authorizer_list", ("POST",), auth="none",
          name="component/api_get_authorizer_list")
async def get_authorizer_list(ctx: Ctx) -> dict:
    body = await ctx.json()
    comp = _component(ctx, body)
    offset = body.get("offset", 0)
    count = body.get("count", 500)
    if not isinstance(offset, int) or not isinstance(count, int) or count > 500:
        raise WxError(47001)
    items = list(comp.authorizations.values())
    return {"total_count": len(items), "list": [
        {"authorizer_appid": a.authorizer_appid, "refresh_token": a.refresh_token,
         "auth_time": a.authorized_at} for a in items[offset: offset + count]
    ]}


# --- the authorize flow ------------------------------------------------------

class AuthorizeError(Exception):
    pass


def check_preauth(sim: Sim, params: dict) -> Component:
    comp = sim.state.components.get(params.get("component_appid", ""))
    if comp is None:
        raise AuthorizeError("component_appid 参数错误")
    entry = comp.preauth.get(params.get("pre_auth_code", ""))
    if entry is None or entry[1] or entry[0] <= sim.clock.now():
        raise AuthorizeError("pre_auth_code 无效或已过期")
    if not params.get("redirect_uri", "").startswith(("http://", "https://")):
        raise AuthorizeError("redirect_uri 参数错误")
    return comp


async def authorize(sim: Sim, params: dict, authorizer_appid: str,
                    func_ids: list[int] | None = None) -> str:
    """The admin confirmed: issue auth_code, push authorized/updateauthorized, return Location."""
    comp = check_preauth(sim, params)
    acct = sim.state.accounts.get(authorizer_appid)
    if acct is None:
        raise AuthorizeError("unknown account")
    biz = params.get("biz_appid")
    if biz and biz != authorizer_appid:
        raise AuthorizeError("biz_appid 与授权账号不一致")
    pre = params["pre_auth_code"]
    comp.preauth[pre] = (comp.preauth[pre][0], True)
    now = sim.clock.now()
    ids = func_ids or list(FUNC_IDS)
    old = comp.authorizations.get(authorizer_appid)
    comp.authorizations[authorizer_appid] = Authorization(
        authorizer_appid, "refreshtoken@@@" + rand_str(43), ids, int(now))
    acct.components.add(comp.appid)
    code = "queryauthcode@@@" + rand_str(60)
    comp.auth_codes[code] = (authorizer_appid, now + AUTH_CODE_TTL, False)
    info_type = "authorized" if old is None else "updateauthorized"
    if old is None or sorted(old.func_ids) != sorted(ids):
        fields = [("AuthorizerAppid", authorizer_appid), ("AuthorizationCode", code),
                  ("AuthorizationCodeExpiredTime", int(now + AUTH_CODE_TTL)),
                  ("PreAuthCode", pre)]
        sim.spawn(sim.pusher.push_component(comp, fields, info_type))
    return add_query(params["redirect_uri"], {"auth_code": code, "expires_in": AUTH_CODE_TTL})


async def unauthorize(sim: Sim, comp: Component, authorizer_appid: str) -> dict:
    comp.authorizations.pop(authorizer_appid, None)
    acct = sim.state.accounts.get(authorizer_appid)
    if acct is not None:
        acct.components.discard(comp.appid)
        for tok in acct.authorizer_tokens:
            sim.state.tokens.pop(tok, None)
        acct.authorizer_tokens.clear()
    return await sim.pusher.push_component(
        comp, [("AuthorizerAppid", authorizer_appid)], "unauthorized")


def _page(body: str, status: int = 200) -> web.Response:
    return web.Response(
        text="<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
        f"<title>公众号授权</title></head><body>{body}</body></html>",
        status=status, content_type="text/html")


async def login_page(request: web.Request) -> web.StreamResponse:
    """``componentloginpage`` / ``safe/bindcomponent``: the admin picks an account."""
    sim = request.app[SIM]
    params = {k: v for k, v in request.query.items()}
    pick = params.pop("wxsim_pick", "") or request.headers.get("X-Wxsim-Pick", "")
    try:
        check_preauth(sim, params)
        if pick:
            raise web.HTTPFound(await authorize(sim, params, pick))
    except AuthorizeError as exc:
        return _page(f"<h2 id='error'>{html.escape(str(exc))}</h2>")
    from urllib.parse import urlencode

    biz = params.get("biz_appid")
    items = []
    for acct in sim.state.accounts.values():
        if biz and acct.appid != biz:
            continue
        q = urlencode({**params, "wxsim_pick": acct.appid})
        items.append(f"<li><a class='account' data-appid='{acct.appid}' "
                     f"href='{request.path}?{html.escape(q)}'>{html.escape(acct.name)} "
                     f"({acct.appid})</a></li>")
    return _page("<h2>选择要授权的公众号</h2><ul id='accounts'>" + "".join(items) + "</ul>")


def setup_pages(app: web.Application, guard: Any) -> None:
    app.router.add_get("/cgi-bin/componentloginpage", guard(login_page))
    app.router.add_get("/safe/bindcomponent", guard(login_page))
