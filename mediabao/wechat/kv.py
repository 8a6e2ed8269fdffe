"""The raw Redis client the gateway shares with every process (tokens, locks, dedup, counters).

Django's cache API has no locks, SET NX with a value we read back, or hashes, so the
gateway talks to the same Redis directly, under the cache's key prefix (tests and a dev
instance sharing one Redis stay apart, and the test suite's flush clears these keys too).
"""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)


def client() -> redis.Redis:
    return _client(settings.REDIS_URL)


def key(*parts: object) -> str:
    """A namespaced key: ``<cache prefix>:wx:<parts…>``."""
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "") or "mb"
    return ":".join([prefix, "wx", *(str(p) for p in parts)])
