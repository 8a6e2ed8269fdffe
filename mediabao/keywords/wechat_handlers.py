"""A fan's text message → the first matching keyword reply (passive reply)."""

from __future__ import annotations

from django.db.models import F

from mediabao.keywords.matching import match
from mediabao.keywords.models import KeywordRule
from mediabao.wechat.messages import Reply
from mediabao.wechat.registry import EventContext, on


@on("text", priority=50)
def keyword_reply(ctx: EventContext) -> Reply | None:
    text = ctx.message.get("Content")
    if not isinstance(text, str) or not text.strip():
        return None
    reply, rule = match(ctx, text)
    if rule is not None:
        KeywordRule.objects.filter(pk=rule.pk).update(hits=F("hits") + 1)
    return reply
