"""How fan events keep the fan table current (registered with the gateway's registry)."""

from __future__ import annotations

from mediabao.fans import services
from mediabao.wechat.registry import EventContext, on

MESSAGE_KINDS = ("text", "image", "voice", "video", "shortvideo", "location", "link")


def _at(ctx: EventContext):
    return services.wechat_time(ctx.event.create_time or ctx.message.get("CreateTime"))


def _has_fan(ctx: EventContext) -> bool:
    return bool(ctx.openid)


def _followed_many(ctxs: list[EventContext]) -> None:
    """A batch of follows of distinct fans: one statement (see ``wechat.processing``)."""
    befores = services.record_subscribes([(ctx.account, ctx.openid, _at(ctx), ctx.scene) for ctx in ctxs])
    for ctx, before in zip(ctxs, befores, strict=True):
        ctx.extra[services.FOLLOWED_BEFORE] = before


@on("subscribe", priority=10, when=_has_fan, replies=False, batch=_followed_many)
def fan_followed(ctx: EventContext) -> None:
    """Also tells later handlers whether the fan had followed before (one statement)."""
    _fan, before = services.record_subscribe(ctx.account, ctx.openid, _at(ctx), qr_scene=ctx.scene,
                                             history=True)
    ctx.extra[services.FOLLOWED_BEFORE] = before


@on("unsubscribe", priority=10, when=_has_fan, replies=False)
def fan_unfollowed(ctx: EventContext) -> None:
    services.record_unsubscribe(ctx.account, ctx.openid, _at(ctx))


@on("scan", "click", "scancode_push", "scancode_waitmsg", priority=10, when=_has_fan,
    replies=False)
def fan_tapped(ctx: EventContext) -> None:
    """A QR scan or a menu click opens the one-minute window (VIEW does not)."""
    services.record_interaction(ctx.account, ctx.openid, _at(ctx), message=False)


@on(*MESSAGE_KINDS, priority=10, when=_has_fan, replies=False)
def fan_wrote(ctx: EventContext) -> None:
    services.record_interaction(ctx.account, ctx.openid, _at(ctx), message=True)
