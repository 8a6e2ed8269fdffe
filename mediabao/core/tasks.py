"""Platform-level tasks."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache


@shared_task(name="mediabao.core.ping")
def ping(key: str, value: str = "pong") -> str:
    """Round-trip check through the real broker and worker (used by tests and ops)."""
    cache.set(key, value, timeout=300)
    return value
