"""Periodic work of the gateway (Celery)."""

from __future__ import annotations

from celery import shared_task

from mediabao.wechat import processing, services


@shared_task(name="mediabao.wechat.prune_events")
def prune_events() -> int:
    """Drop events older than ``EVENT_RETENTION_DAYS`` (run daily by beat)."""
    return services.prune_events()


#: A pending event this old was not handled by its web process's thread (it died, or is
#: far behind): beat's sweep handles it. Younger ones are the thread's.
SWEEP_AFTER_SECONDS = 5.0


@shared_task(name="mediabao.wechat.process_pending_events")
def process_pending_events() -> int:
    """Handle events left pending (see ``wechat.processing``); every 10 s by beat."""
    age = processing.oldest_pending_age()
    if age is None or age < SWEEP_AFTER_SECONDS:
        return 0
    return processing.process_pending(max_seconds=50.0)
