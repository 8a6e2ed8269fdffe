"""TEMPLATESENDJOBFINISH: WeChat's final word on each template message, by MsgID."""

from __future__ import annotations

from mediabao.messaging.models import Recipient
from mediabao.wechat.registry import EventContext, on


@on("templatesendjobfinish", replies=False)
def template_delivered(ctx: EventContext) -> None:
    msgid = str(ctx.message.get("MsgID") or ctx.message.get("MsgId") or "").strip()
    status = str(ctx.message.get("Status") or "").strip()[:32]
    if not msgid or not status:
        return
    Recipient.objects.filter(msgid=msgid, job__account=ctx.account, channel="template").update(
        delivery=status)
