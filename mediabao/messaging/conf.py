"""Engine settings: ``settings.MESSAGING_*`` first, then ``MEDIABAO_MESSAGING_*`` env vars.

The env fallback lets tests and benchmarks tune real worker processes without a
settings module of their own.
"""

from __future__ import annotations

import os

from django.conf import settings


def _value(name: str, default: float) -> float:
    value = getattr(settings, f"MESSAGING_{name}", None)
    if value is None:
        value = os.environ.get(f"MEDIABAO_MESSAGING_{name}")
    return float(value) if value not in (None, "") else default


def chunk_size() -> int:
    """Recipients claimed per round trip."""
    return int(_value("CHUNK_SIZE", 1000))


def default_concurrency() -> int:
    return int(_value("CONCURRENCY", 100))


def default_rate() -> int:
    """Messages per second per account, shared by all workers (Redis)."""
    return int(_value("RATE_PER_SECOND", 3000))


def runners_per_job() -> int:
    """Runner tasks queued per job: how many workers can share it."""
    return int(_value("RUNNERS_PER_JOB", 4))


def lease_seconds() -> float:
    """A recipient in ``sending`` longer than this belongs to a dead worker."""
    return _value("LEASE_SECONDS", 60)


def max_attempts() -> int:
    """Claims per recipient for transient failures (each claim has the client's own retries)."""
    return int(_value("MAX_ATTEMPTS", 3))


def slice_seconds() -> float:
    """A runner hands its job back to the queue after this long, so that other jobs get
    the worker too and a worker's warm shutdown never waits for a whole job."""
    return _value("SLICE_SECONDS", 60)
