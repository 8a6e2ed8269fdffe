"""Periodic work of the gateway (Celery)."""

from __future__ import annotations

from celery import shared_task

from mediabao.wechat import services


@shared_task(name="mediabao.wechat.prune_events")
def prune_events() -> int:
    """Drop events older than ``EVENT_RETENTION_DAYS`` (run daily by beat)."""
    return services.prune_events()
