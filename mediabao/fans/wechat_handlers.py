"""How fan events keep the fan table current (registered with the gateway's registry)."""

from __future__ import annotations

from mediabao.fans import services
from mediabao.wechat.registry import EventContext, on

MESSAGE_KINDS = ("text", "image", "voice", "video", "shortvideo", "location", "link")


def _at(ctx: EventContext):
    return services.wechat_time(ctx.event.create_time or ctx.message.get("CreateTime"))


@on("subscribe", priority=10)
def fan_followed(ctx: EventContext) -> None:
    if ctx.openid:
        services.record_subscribe(ctx.account, ctx.openid, _at(ctx), qr_scene=ctx.scene)


@on("unsubscribe", priority=10)
def fan_unfollowed(ctx: EventContext) -> None:
    if ctx.openid:
        services.record_unsubscribe(ctx.account, ctx.openid, _at(ctx))


@on("scan", "click", "scancode_push", "scancode_waitmsg", priority=10)
def fan_tapped(ctx: EventContext) -> None:
    """A QR scan or a menu click opens the one-minute window (VIEW does not)."""
    if ctx.openid:
        services.record_interaction(ctx.account, ctx.openid, _at(ctx), message=False)


@on(*MESSAGE_KINDS, priority=10)
def fan_wrote(ctx: EventContext) -> None:
    if ctx.openid:
        services.record_interaction(ctx.account, ctx.openid, _at(ctx), message=True)
