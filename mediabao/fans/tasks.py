"""Background work of the fans app."""

from __future__ import annotations

import contextlib
import logging

from celery import shared_task
from django.db import DatabaseError, connection

from mediabao.fans import services

log = logging.getLogger(__name__)

#: First key of the session advisory lock that lets one run of a sync go at a time.
SYNC_LOCK = 0x6D66  # "mf"


@shared_task(name="mediabao.fans.sync", acks_late=True)
def sync_fans(sync_id: int) -> str:
    """Run (or resume) one follower sync; safe to redeliver: it continues from its cursor.

    A message is delivered again when the worker holding it is gone (see the broker
    leases in mediabao/celery.py), and could then overlap a run that is in fact still going
    (its worker stalled longer than the visibility timeout): the second run steps aside.
    The lock belongs to the database session, so a dead worker's lock goes with it."""
    key = [SYNC_LOCK, sync_id % 2**31]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        if not cursor.fetchone()[0]:
            log.info("fan sync %s is running elsewhere; this delivery steps aside", sync_id)
            return "busy"
    try:
        return services.run_sync(sync_id).state
    finally:
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
