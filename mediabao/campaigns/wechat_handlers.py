"""任务宝 on the event path: the join keyword, follows through posters, unfollows.

Priority 60: fans' own handler (priority 10) has recorded the follow and told us, in
``ctx.extra``, whether the fan had followed the account before this event.
"""

from __future__ import annotations

import logging

from mediabao.campaigns import services, tasks
from mediabao.campaigns.models import SCENE_PREFIX
from mediabao.fans.services import FOLLOWED_BEFORE, wechat_time
from mediabao.wechat.messages import Reply, TextReply
from mediabao.wechat.registry import EventContext, on

log = logging.getLogger(__name__)


def _at(ctx: EventContext):
    return wechat_time(ctx.event.create_time or ctx.message.get("CreateTime"))


def _through_poster(ctx: EventContext) -> bool:
    return bool(ctx.openid) and ctx.scene.startswith(SCENE_PREFIX)


@on("subscribe", "scan", priority=60, when=_through_poster)
def poster_follow(ctx: EventContext) -> Reply | None:
    if ctx.kind == "scan":
        # Already following: not a new follower, so never an assist (SPEC §5.3).
        services.resolve_scene(ctx.account, ctx.scene)  # logs forged scenes
        return None
    # Unknown (the fans handler failed): treated as known, so protection counts nothing.
    new_fan = ctx.extra.get(FOLLOWED_BEFORE, True) is False
    result = services.record_assist(ctx.account, ctx.openid, ctx.scene, new_fan=new_fan, at=_at(ctx))
    if result.counted and result.inviter is not None:
        activity = result.inviter.activity
        if activity.welcome_text:
            return TextReply(services.fill(activity.welcome_text, inviter=result.inviter.nickname or "",
                                           keyword=activity.join_keyword, activity=activity.name))
    return None


@on("unsubscribe", priority=60, when=lambda ctx: bool(ctx.openid), replies=False)
def fan_left(ctx: EventContext) -> None:
    services.record_unfollow(ctx.account, ctx.openid, at=_at(ctx))


def join_keyword(ctx: EventContext, text: str) -> Reply | None:
    """Keyword provider: the rules as the passive reply, the poster card by customer service."""
    answer = services.keyword_answer(ctx.account, ctx.openid, text)
    if answer is None:
        return None
    if answer.send_card and answer.activity is not None:
        ctx.defer(tasks.send_join_card, answer.activity.pk, ctx.account.pk, ctx.openid)
    return TextReply(answer.text)
