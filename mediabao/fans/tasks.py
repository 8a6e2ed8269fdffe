"""Background work of the fans app."""

from __future__ import annotations

from celery import shared_task

from mediabao.fans import services


@shared_task(name="mediabao.fans.sync", acks_late=True)
def sync_fans(sync_id: int) -> str:
    """Run (or resume) one follower sync; safe to redeliver: it continues from its cursor."""
    return services.run_sync(sync_id).state
