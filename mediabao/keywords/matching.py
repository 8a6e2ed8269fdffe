"""Which passive reply a fan's text gets: operator rules, then keyword providers.

Feature apps plug their own keywords in (a campaign's join keyword) with
:func:`register_provider`; a provider returns a reply or ``None``. Rules and providers
are tried in order of position; the first match wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone

from mediabao.keywords.models import KeywordRule
from mediabao.wechat.messages import Article, ImageReply, NewsReply, Reply, TextReply
from mediabao.wechat.registry import EventContext

Provider = Callable[[EventContext, str], Reply | None]


@dataclass(order=True)
class _Provider:
    position: int
    name: str
    func: Provider


_providers: list[_Provider] = []


def register_provider(name: str, func: Provider, position: int = 50) -> None:
    """Consult ``func`` before the operator's rules whose position is higher."""
    if any(p.name == name for p in _providers):
        return
    _providers.append(_Provider(position, name, func))
    _providers.sort()


def unregister_provider(name: str) -> None:
    _providers[:] = [p for p in _providers if p.name != name]


def reply_for_rule(rule: KeywordRule) -> Reply | None:
    if rule.reply_type == KeywordRule.ReplyType.TEXT and rule.text:
        return TextReply(rule.text)
    if rule.reply_type == KeywordRule.ReplyType.IMAGE and rule.image_media_id:
        return ImageReply(rule.image_media_id)
    if rule.reply_type == KeywordRule.ReplyType.NEWS and rule.news_title:
        return NewsReply([Article(rule.news_title, rule.news_description, rule.news_picurl,
                                  rule.news_url)])
    return None


def match(ctx: EventContext, text: str) -> tuple[Reply | None, KeywordRule | None]:
    now = timezone.now()
    rules = [r for r in KeywordRule.objects.filter(account=ctx.account, enabled=True)
             if r.is_active(now)]
    candidates: list[tuple[int, int, object]] = [(r.position, 1, r) for r in rules]
    candidates += [(p.position, 0, p) for p in _providers]
    for _position, _kind, item in sorted(candidates, key=lambda c: (c[0], c[1])):
        if isinstance(item, KeywordRule):
            if item.matches(text):
                reply = reply_for_rule(item)
                if reply is not None:
                    return reply, item
        else:
            reply = item.func(ctx, text)
            if reply is not None:
                return reply, None
    return None, None
