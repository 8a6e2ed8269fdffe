"""The Celery application: Redis broker, DB-backed beat, a heartbeat for /healthz."""

from __future__ import annotations

import os
import socket
import threading

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediabao.settings")

app = Celery("mediabao")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

HEARTBEAT_KEY = "mediabao:worker-heartbeat:{}"
_stop = threading.Event()


def _beat_loop(hostname: str) -> None:
    """Write a short-lived key so /healthz can tell a live worker from a dead one."""
    from django.conf import settings
    from django.core.cache import cache

    interval = settings.WORKER_HEARTBEAT_SECONDS
    while not _stop.is_set():
        try:
            cache.set(HEARTBEAT_KEY.format(hostname), "alive", timeout=interval * 3)
            registry = set(cache.get("mediabao:workers") or ())
            registry.add(hostname)
            cache.set("mediabao:workers", sorted(registry), timeout=None)
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
