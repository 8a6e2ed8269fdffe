"""Access tokens: ``cgi-bin/token``, ``stable_token`` and ``clear_quota``."""

from __future__ import annotations

from ..errors import WxError
from ..state import TOKEN_OVERLAP, TOKEN_TTL, Account
from . import Ctx, endpoint, str_field


def _credentials(ctx: Ctx, appid: object, secret: object) -> Account:
    sim = ctx.sim
    if not appid or not isinstance(appid, str):
        raise WxError(41002)
    if appid in sim.state.components:
        raise WxError(61024)
    acct = sim.state.accounts.get(appid)
    if acct is None:
        raise WxError(40013)
    if not secret or not isinstance(secret, str):
        raise WxError(41004)
    if secret != acct.secret:
        raise WxError(40125)
    return acct


@endpoint("/cgi-bin/token", auth="none")
async def token(ctx: Ctx) -> dict:
    q = ctx.query
    if q.get("grant_type") != "client_credential":
        raise WxError(40002)
    acct = _credentials(ctx, q.get("appid"), q.get("secret"))
    ctx.acct = acct
    ctx.sim.state.use_quota(acct, "token")
    tok = ctx.sim.state.issue_token(acct.appid, "token", acct.tokens, TOKEN_TTL, TOKEN_OVERLAP)
    return {"access_token": tok, "expires_in": TOKEN_TTL}


@endpoint("/cgi-bin/stable_token", ("POST",), auth="none")
async def stable_token(ctx: Ctx) -> dict:
    body = await ctx.json()
    if body.get("grant_type") != "client_credential":
        raise WxError(40002)
    acct = _credentials(ctx, body.get("appid"), body.get("secret"))
    ctx.acct = acct
    state = ctx.sim.state
    state.use_quota(acct, "stable_token")
    force = body.get("force_refresh", False)
    if not isinstance(force, bool):
        raise WxError(47001)
    now = state.clock.now()
    cur = state.tokens.get(acct.stable_tokens[-1]) if acct.stable_tokens else None
    live = cur is not None and cur.expires_at > now
    if force:
        recent = [t for t in acct.stable_force_times if now - t < 86400]
        acct.stable_force_times = recent
        if live and recent and now - recent[-1] < 30:
            assert cur is not None
            return {"access_token": acct.stable_tokens[-1], "expires_in": int(cur.expires_at - now)}
        if len(recent) >= 20:
            raise WxError(45009)
        acct.stable_force_times.append(now)
        tok = state.issue_token(acct.appid, "stable", acct.stable_tokens, TOKEN_TTL, 0)
        return {"access_token": tok, "expires_in": TOKEN_TTL}
    if live and cur is not None and cur.expires_at - now >= TOKEN_OVERLAP:
        return {"access_token": acct.stable_tokens[-1], "expires_in": int(cur.expires_at - now)}
    tok = state.issue_token(acct.appid, "stable", acct.stable_tokens, TOKEN_TTL, TOKEN_OVERLAP)
    return {"access_token": tok, "expires_in": TOKEN_TTL}


@endpoint("/cgi-bin/clear_quota", ("POST",))
async def clear_quota(ctx: Ctx) -> dict:
    body = await ctx.json()
    appid = str_field(body, "appid", 41002)
    if appid != ctx.acct.appid:
        raise WxError(40013)
    ctx.acct.quota_used.clear()
    return {"errcode": 0, "errmsg": "ok"}


@endpoint("/cgi-bin/getcallbackip")
async def getcallbackip(ctx: Ctx) -> dict:
    return {"ip_list": ["127.0.0.1"]}


@endpoint("/cgi-bin/get_api_domain_ip")
async def get_api_domain_ip(ctx: Ctx) -> dict:
    return {"ip_list": ["127.0.0.1"]}
