"""Customer-service messages (``message/custom/send``) and the interaction quota.

A fan's message opens 5 sends for 48 h; a subscribe, a QR scan or a menu click
opens 3 sends for 1 minute (WECHAT.md §5). Outside every window: 45015; the
window's count used up: 45047.
"""

from __future__ import annotations

from ..errors import WxError
from . import Ctx, endpoint

SIMPLE_MEDIA = ("image", "voice")


def _media(ctx: Ctx, media_id: object, now: float) -> None:
    if not isinstance(media_id, str) or not media_id:
        raise WxError(40007)
    m = ctx.acct.media.get(media_id)
    if m is None or (not m.permanent and m.created_at + 3 * 86400 <= now):
        raise WxError(40007)


def _payload(ctx: Ctx, body: dict, msgtype: str, now: float) -> dict:
    """Validate the message by type; return what the fan receives."""
    part = body.get(msgtype)
    if not isinstance(part, dict):
        raise WxError(47001)
    if msgtype == "text":
        content = part.get("content")
        if not isinstance(content, str) or not content:
            raise WxError(47001)
        return {"content": content}
    if msgtype in SIMPLE_MEDIA:
        _media(ctx, part.get("media_id"), now)
        return {"media_id": part["media_id"]}
    if msgtype == "video":
        _media(ctx, part.get("media_id"), now)
        return dict(part)
    if msgtype == "news":
        articles = part.get("articles")
        if not isinstance(articles, list) or not articles:
            raise WxError(47001)
        if len(articles) > 1:
            raise WxError(45008)
        if not isinstance(articles[0], dict):
            raise WxError(47001)
        return {"articles": articles}
    if msgtype == "mpnews":
        _media(ctx, part.get("media_id"), now)
        return {"media_id": part["media_id"]}
    if msgtype == "mpnewsarticle":
        if not isinstance(part.get("article_id"), str) or not part["article_id"]:
            raise WxError(47001)
        return {"article_id": part["article_id"]}
    if msgtype in ("music", "link", "miniprogrampage", "msgmenu", "wxcard"):
        return dict(part)
    raise WxError(40008)


@endpoint("/cgi-bin/message/custom/send", ("POST",), quota="message/custom/send", verified=True)
async def send(ctx: Ctx) -> dict:
    body = await ctx.json()
    acct = ctx.acct
    fans = acct.fans
    touser = body.get("touser")
    i = fans.index.get(touser) if isinstance(touser, str) else None
    if i is None:
        raise WxError(40003)
    msgtype = body.get("msgtype")
    if not isinstance(msgtype, str) or not msgtype:
        raise WxError(40008)
    now = ctx.sim.clock.now()
    payload = _payload(ctx, body, msgtype, now)
    if not fans.subscribed[i]:
        raise WxError(45015)
    fans.use_window(i, now)
    if acct.record_inbox:
        entry = {
            "seq": ctx.sim.state.next_seq(), "time": int(now), "channel": "custom",
            "msgtype": msgtype, **payload,
        }
        kf = body.get("customservice")
        if isinstance(kf, dict) and kf.get("kf_account"):
            entry["kf_account"] = kf["kf_account"]
        fans.deliver(i, entry)
    if msgtype == "image":
        ctx.sim.on_image_delivered(acct, i)
    elif msgtype == "news":
        ctx.sim.on_link_delivered(acct, i, str(payload["articles"][0].get("url") or ""))
    return {"errcode": 0, "errmsg": "ok"}


@endpoint("/cgi-bin/message/custom/typing", ("POST",), verified=True)
async def typing(ctx: Ctx) -> dict:
    body = await ctx.json()
    touser = body.get("touser")
    if not isinstance(touser, str) or ctx.acct.fans.index.get(touser) is None:
        raise WxError(40003)
    return {"errcode": 0, "errmsg": "ok"}
