"""``GET /healthz``: the state of every component, 503 when one is down."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from mediabao.celery import HEARTBEAT_KEY, WORKERS_KEY


def _timed(check: Callable[[], dict]) -> dict:
    started = time.monotonic()
    try:
        result = check()
    except Exception as exc:  # noqa: BLE001 - any failure is a "down" component
        result = {"status": "down", "error": exc.__class__.__name__}
    result["ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": "ok"}


def check_redis() -> dict:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return {"status": "ok"}


def check_broker() -> dict:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2,
                                  socket_connect_timeout=2)
    try:
        client.ping()
        queued = client.llen(settings.CELERY_TASK_DEFAULT_QUEUE)
    finally:
        client.close()
    return {"status": "ok", "queued": queued}


def check_workers() -> dict:
    names = list(cache.get(WORKERS_KEY) or {})
    alive = [name for name in names if cache.get(HEARTBEAT_KEY.format(name))]
    if not alive:
        return {"status": "down", "error": "no worker heartbeat", "alive": 0}
    return {"status": "ok", "alive": len(alive)}


CHECKS: dict[str, Callable[[], dict]] = {
    "database": check_database,
    "redis": check_redis,
    "broker": check_broker,
    "worker": check_workers,
}
# Checks that other apps add (e.g. the poster font); they report but never turn the page 503.
ADVISORY_CHECKS: dict[str, Callable[[], dict]] = {}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    components = {name: _timed(check) for name, check in CHECKS.items()}
    advisory = {name: _timed(check) for name, check in ADVISORY_CHECKS.items()}
    ok = all(item["status"] == "ok" for item in components.values())
    body = {"status": "ok" if ok else "down", "components": components}
    if advisory:
        body["advisory"] = advisory
    return JsonResponse(body, status=200 if ok else 503)


@never_cache
@require_GET
def livez(request: HttpRequest) -> JsonResponse:
    """Liveness of this web process alone, for load balancers: no database, no workers."""
    return JsonResponse({"status": "ok"})
