"""Follows and scans through channel codes (registered with the gateway's registry).

Priority 50: fans' own handlers (priority 10) have already created or updated the Fan
row in the same transaction, so attribution only updates its source.
"""

from __future__ import annotations

import logging

from mediabao.channels import services
from mediabao.channels.models import SCENE_PREFIX
from mediabao.fans.services import FOLLOWED_BEFORE, wechat_time
from mediabao.wechat.registry import EventContext, on

log = logging.getLogger(__name__)


def _at(ctx: EventContext):
    return wechat_time(ctx.event.create_time or ctx.message.get("CreateTime"))


def _channel(ctx: EventContext):
    """The account's channel named by the scene; forged or foreign scenes are logged."""
    if not ctx.scene.startswith(SCENE_PREFIX):
        return None
    channel = services.channel_for_scene(ctx.account, ctx.scene)
    if channel is None:
        log.warning("unknown channel scene %r in %s event %s of account %s ignored",
                    ctx.scene[:80], ctx.kind, ctx.event.pk, ctx.account.appid)
    return channel


def _may_matter(ctx: EventContext) -> bool:
    """A follow through a channel, or a plain follow of a fan who followed before (who may
    have an open channel row whose unsubscribe was missed). A first-time plain follow
    cannot concern any channel row: skip it without a savepoint."""
    return bool(ctx.openid) and (ctx.scene.startswith(SCENE_PREFIX)
                                 or ctx.extra.get(FOLLOWED_BEFORE, True) is not False)


def _follows_many(ctxs: list[EventContext]) -> None:
    """Follows of distinct fans: the plain ones close their open rows in one statement."""
    plain = []
    for ctx in ctxs:
        channel = _channel(ctx)
        if channel is None:
            plain.append((ctx.account, ctx.openid, _at(ctx)))
        else:
            services.record_follow(channel, ctx.openid, _at(ctx))
    services.close_open_follows_of(plain)


@on("subscribe", priority=50, when=_may_matter, replies=False, batch=_follows_many)
def channel_follow(ctx: EventContext) -> None:
    at = _at(ctx)
    channel = _channel(ctx)
    if channel is None:
        services.record_plain_follow(ctx.account, ctx.openid, at)
    else:
        services.record_follow(channel, ctx.openid, at)


@on("scan", priority=50, replies=False)
def channel_scan(ctx: EventContext) -> None:
    """An existing follower scanned the code: counted as a scan, never as a new fan."""
    if ctx.openid:
        channel = _channel(ctx)
        if channel is not None:
            services.record_scan(channel, ctx.openid, _at(ctx))


def _unfollows_many(ctxs: list[EventContext]) -> None:
    services.close_open_follows_of([(ctx.account, ctx.openid, _at(ctx)) for ctx in ctxs if ctx.openid])


@on("unsubscribe", priority=50, replies=False, batch=_unfollows_many)
def channel_unfollow(ctx: EventContext) -> None:
    if ctx.openid:
        services.record_unfollow(ctx.account, ctx.openid, _at(ctx))
