"""The Celery application: Redis broker, DB-backed beat, a heartbeat for /healthz."""

from __future__ import annotations

import os
import socket
import threading
import time

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediabao.settings")

app = Celery("mediabao")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

HEARTBEAT_KEY = "mediabao:worker-heartbeat:{}"
WORKERS_KEY = "mediabao:workers"
_stop = threading.Event()


def _beat_loop(hostname: str) -> None:
    """Write a short-lived key so /healthz can tell a live worker from a dead one."""
    from django.conf import settings
    from django.core.cache import cache

    interval = settings.WORKER_HEARTBEAT_SECONDS
    while not _stop.is_set():
        try:
            cache.set(HEARTBEAT_KEY.format(hostname), "alive", timeout=interval * 3)
            # Names seen recently; a worker silent for an hour is forgotten.
            now = time.time()
            seen = cache.get(WORKERS_KEY) or {}
            seen = {name: at for name, at in seen.items() if now - at < 3600} | {hostname: now}
            cache.set(WORKERS_KEY, seen, timeout=None)
        except Exception:  # noqa: BLE001,S110 - Redis down: health shows it, the worker keeps going
            pass
        _stop.wait(interval)


@worker_ready.connect
def _start_heartbeat(sender=None, **kwargs) -> None:
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    threading.Thread(target=_beat_loop, args=(hostname,), daemon=True, name="heartbeat").start()


@worker_shutdown.connect
def _stop_heartbeat(**kwargs) -> None:
    _stop.set()
