"""Followers: ``user/get`` paging, ``user/info`` (no nickname since 2021-12-27), batchget."""

from __future__ import annotations

from ..errors import WxError
from ..state import SCENES, Account
from . import Ctx, endpoint, str_field

LANGS = ("zh_CN", "zh_TW", "en")


@endpoint("/cgi-bin/user/get", quota="user/get", verified=True)
async def user_get(ctx: Ctx) -> dict:
    fans = ctx.acct.fans
    next_openid = ctx.query.get("next_openid") or None
    page = fans.page(next_openid)
    if not page:
        return {"total": fans.following, "count": 0, "next_openid": ""}
    return {
        "total": fans.following,
        "count": len(page),
        "data": {"openid": page},
        "next_openid": page[-1],
    }


def user_info(acct: Account, openid: object, lang: object = "zh_CN", batch: bool = False) -> dict:
    if not isinstance(openid, str) or not openid:
        raise WxError(40003)
    if lang not in LANGS:
        raise WxError(40003, "invalid lang")
    fans = acct.fans
    i = fans.index.get(openid)
    if i is None:
        raise WxError(40003)
    if not fans.subscribed[i]:
        out: dict = {"subscribe": 0, "openid": openid}
        if batch:
            out["unionid"] = fans.unionid(i)
        return out
    qr = fans.qr_scene.get(i)
    return {
        "subscribe": 1,
        "openid": openid,
        "nickname": "",
        "sex": 0,
        "language": lang,
        "city": "",
        "province": "",
        "country": "",
        "headimgurl": "",
        "subscribe_time": fans.sub_time[i],
        "unionid": fans.unionid(i),
        "remark": fans.remark.get(i, ""),
        "groupid": 0,
        "tagid_list": [],
        "subscribe_scene": SCENES[fans.scene[i]],
        "qr_scene": qr[0] if qr else 0,
        "qr_scene_str": qr[1] if qr else "",
    }


@endpoint("/cgi-bin/user/info", quota="user/info", verified=True)
async def info(ctx: Ctx) -> dict:
    return user_info(ctx.acct, ctx.query.get("openid"), ctx.query.get("lang", "zh_CN"))


@endpoint("/cgi-bin/user/info/batchget", ("POST",), quota="user/info/batchget", verified=True)
async def batchget(ctx: Ctx) -> dict:
    body = await ctx.json()
    users = body.get("user_list")
    if not isinstance(users, list) or not users:
        raise WxError(47001)
    if len(users) > 100:
        raise WxError(45035, "user_list size out of limit")
    out = []
    for u in users:
        if not isinstance(u, dict):
            raise WxError(47001)
        out.append(user_info(ctx.acct, u.get("openid"), u.get("lang", "zh_CN"), batch=True))
    return {"user_info_list": out}


@endpoint("/cgi-bin/user/info/updateremark", ("POST",), verified=True)
async def updateremark(ctx: Ctx) -> dict:
    body = await ctx.json()
    openid = str_field(body, "openid", 40003)
    remark = body.get("remark", "")
    if not isinstance(remark, str) or len(remark) > 30:
        raise WxError(40097 if isinstance(remark, str) else 47001)
    i = ctx.acct.fans.index.get(openid)
    if i is None:
        raise WxError(40003)
    ctx.acct.fans.remark[i] = remark
    return {"errcode": 0, "errmsg": "ok"}
