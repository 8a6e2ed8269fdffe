"""任务宝 on the event path: the join keyword, follows through posters, unfollows.

Priority 5 snapshots what the fan table knew *before* this event (fans' own handlers at
priority 10 record the follow); priority 60 counts the assist with that snapshot.
"""

from __future__ import annotations

import logging

from mediabao.campaigns import services, tasks
from mediabao.campaigns.models import SCENE_PREFIX
from mediabao.fans.services import wechat_time
from mediabao.wechat.messages import Reply, TextReply
from mediabao.wechat.registry import EventContext, on

log = logging.getLogger(__name__)
KNOWN_KEY = "campaigns_fan_known"


def _at(ctx: EventContext):
    return wechat_time(ctx.event.create_time or ctx.message.get("CreateTime"))


@on("subscribe", "scan", priority=5)
def remember_fan_history(ctx: EventContext) -> None:
    """Did this fan follow the account before? (A Fan row that is following, was synced,
    or has a follow/unfollow time; a row holding only an OAuth profile does not count.)"""
    if ctx.scene.startswith(SCENE_PREFIX) and ctx.openid:
        from django.db.models import Q

        from mediabao.fans.models import Fan

        history = (Q(subscribed=True) | Q(subscribe_time__isnull=False) | Q(unsubscribe_time__isnull=False)
                   | Q(sync_generation__gt=0))
        ctx.extra[KNOWN_KEY] = Fan.objects.filter(history, account=ctx.account, openid=ctx.openid).exists()


@on("subscribe", "scan", priority=60)
def poster_follow(ctx: EventContext) -> Reply | None:
    if not ctx.scene.startswith(SCENE_PREFIX) or not ctx.openid:
        return None
    if ctx.kind == "scan":
        # Already following: not a new follower, so never an assist (SPEC §5.3).
        services.resolve_scene(ctx.account, ctx.scene)  # logs forged scenes
        return None
    new_fan = not ctx.extra.get(KNOWN_KEY, True)
    result = services.record_assist(ctx.account, ctx.openid, ctx.scene, new_fan=new_fan, at=_at(ctx))
    if result.counted and result.inviter is not None:
        activity = result.inviter.activity
        if activity.welcome_text:
            return TextReply(services.fill(activity.welcome_text, inviter=result.inviter.nickname or "",
                                           keyword=activity.join_keyword, activity=activity.name))
    return None


@on("unsubscribe", priority=60)
def fan_left(ctx: EventContext) -> None:
    if ctx.openid:
        services.record_unfollow(ctx.account, ctx.openid, at=_at(ctx))


def join_keyword(ctx: EventContext, text: str) -> Reply | None:
    """Keyword provider: the rules as the passive reply, the poster card by customer service."""
    answer = services.keyword_answer(ctx.account, ctx.openid, text)
    if answer is None:
        return None
    if answer.send_card and answer.activity is not None:
        ctx.defer(tasks.send_join_card, answer.activity.pk, ctx.account.pk, ctx.openid)
    return TextReply(answer.text)
