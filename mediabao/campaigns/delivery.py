"""Customer-service sends of 任务宝 (news card, poster image, courtesy texts).

These need the fan's 48-hour window (WECHAT.md §5): a fan who just sent the join
keyword has 5 sends; a new follower 3 within a minute. 45015/45047 mean “not now”, so
they are logged and dropped, never retried.
"""

from __future__ import annotations

import logging

from django.utils.translation import gettext as _

from mediabao.campaigns.models import Activity, Participant
from mediabao.wechat.client import WeChatClient
from mediabao.wechat.errors import WeChatError
from mediabao.wechat.models import OfficialAccount

log = logging.getLogger(__name__)
JOIN_CARD_TITLE = "点击链接生成我的专属海报"


def _custom(account: OfficialAccount, body: dict) -> bool:
    try:
        WeChatClient(account).post("cgi-bin/message/custom/send", body)
        return True
    except WeChatError as exc:
        log.info("campaign custom send to %s not delivered: %s", body.get("touser"), exc)
        return False


def send_join_card(activity_id: int, account_id: int, openid: str) -> bool:
    from mediabao.campaigns import services

    activity = Activity.objects.filter(pk=activity_id).first()
    account = OfficialAccount.objects.filter(pk=account_id).first()
    if activity is None or account is None:
        return False
    pic = ""
    if activity.poster_background:
        pic = services.public_url(activity.poster_background.url)
    article = {"title": JOIN_CARD_TITLE,
               "description": _("Tap to get your personal poster for “%(name)s”.") % {"name": activity.name},
               "url": services.oauth_link(activity, account), "picurl": pic}
    return _custom(account, {"touser": openid, "msgtype": "news", "news": {"articles": [article]}})


def send_poster_image(participant_id: int) -> bool:
    """Once per poster version: reopening the page must not spend the fan's quota again."""
    from django.db import IntegrityError
    from django.utils import timezone

    from mediabao.campaigns import services
    from mediabao.campaigns.models import Notice
    from mediabao.wechat.media import upload_temporary_image

    participant = Participant.objects.select_related("activity", "account").filter(pk=participant_id).first()
    if participant is None:
        return False
    try:
        path = services.ensure_poster(participant)
        try:
            notice = Notice.objects.create(team_id=participant.team_id, participant=participant,
                                           key=f"poster:{participant.poster_key}", text="[poster image]",
                                           sent_at=timezone.now())
        except IntegrityError:
            return False
        try:
            media_id = upload_temporary_image(participant.account, path.read_bytes(), "poster.jpg",
                                              "image/jpeg")
            sent = _custom(participant.account, {"touser": participant.openid, "msgtype": "image",
                                                 "image": {"media_id": media_id}})
        except WeChatError:
            raise
        except Exception:
            # Redis or PostgreSQL unreachable before WeChat got the image (e.g. while the token
            # is read): give the claim back so that the task's retry sends the poster.
            Notice.objects.filter(pk=notice.pk, channel="").delete()
            raise
    except WeChatError as exc:
        log.info("poster image for participant %s not sent: %s", participant_id, exc)
        return False
    Notice.objects.filter(pk=notice.pk).update(channel="custom" if sent else "")
    return sent


def send_text(account_id: int, openid: str, text: str) -> bool:
    account = OfficialAccount.objects.filter(pk=account_id).first()
    if account is None or not text:
        return False
    return _custom(account, {"touser": openid, "msgtype": "text", "text": {"content": text}})
