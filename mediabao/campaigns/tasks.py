"""Slow work of 任务宝, out of the 5-second callback: WeChat sends to fans."""

from __future__ import annotations

import logging

import redis
from celery import shared_task
from django.db import InterfaceError, OperationalError

log = logging.getLogger(__name__)


# Redis or PostgreSQL briefly unreachable (a restart): retried, the notice is still unsent.
TRANSIENT = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OperationalError,
             InterfaceError)


@shared_task(name="mediabao.campaigns.send_notice", acks_late=True, autoretry_for=TRANSIENT,
             retry_backoff=1, retry_backoff_max=30, retry_jitter=False, max_retries=8)
def send_notice(notice_id: int) -> str:
    """One notice to a participant (customer-service, template fallback); once only."""
    from mediabao.campaigns import services

    return services.deliver_notice(notice_id)


# A join card or courtesy text has no row to claim; these errors are raised before WeChat
# is called (the access token is read from Redis/PostgreSQL first), so a retry cannot
# send it twice. Without the retry a card caught by a Redis restart was never sent.
@shared_task(name="mediabao.campaigns.send_join_card", acks_late=True, autoretry_for=TRANSIENT,
             retry_backoff=1, retry_backoff_max=30, retry_jitter=False, max_retries=8)
def send_join_card(activity_id: int, account_id: int, openid: str) -> bool:
    """The news card “点击链接生成我的专属海报” whose link is the activity's OAuth link."""
    from mediabao.campaigns import delivery

    return delivery.send_join_card(activity_id, account_id, openid)


@shared_task(name="mediabao.campaigns.send_poster_image", acks_late=True, autoretry_for=TRANSIENT,
             retry_backoff=1, retry_backoff_max=30, retry_jitter=False, max_retries=8)
def send_poster_image(participant_id: int) -> bool:
    """The poster as an image message, when the fan's customer-service quota allows."""
    from mediabao.campaigns import delivery

    return delivery.send_poster_image(participant_id)


@shared_task(name="mediabao.campaigns.send_text", acks_late=True, autoretry_for=TRANSIENT,
             retry_backoff=1, retry_backoff_max=30, retry_jitter=False, max_retries=8)
def send_text(account_id: int, openid: str, text: str) -> bool:
    """A courtesy text (welcome to an assisting fan); dropped silently outside the window."""
    from mediabao.campaigns import delivery

    return delivery.send_text(account_id, openid, text)


@shared_task(name="mediabao.campaigns.settle_pending")
def settle_pending() -> int:
    """Inviters' counts whose settle after an event was lost with its process."""
    from mediabao.campaigns import services

    return services.settle_pending()


@shared_task(name="mediabao.campaigns.resend_unsent_notices")
def resend_unsent_notices() -> int:
    """Notices whose send task was never queued or was lost."""
    from mediabao.campaigns import services

    return services.resend_unsent_notices()
