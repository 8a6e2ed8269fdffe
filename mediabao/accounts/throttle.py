"""Login throttling: count failed logins per (IP, username) and per IP in the cache.

Successful logins do not count; the lock lifts by itself when the window passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

_UNITS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Limit:
    attempts: int
    window: int  # seconds


def parse_rate(rate: str) -> Limit:
    match = re.fullmatch(r"(\d+)/(\d*)([smh])", rate.strip())
    if not match:
        raise ValueError(f"bad rate {rate!r}; expected e.g. 5/5m")
    count, amount, unit = match.groups()
    return Limit(int(count), int(amount or 1) * _UNITS[unit])


def _keys(ip: str, username: str) -> tuple[str, str]:
    return f"login-fail:{ip}:{username.strip().lower()[:150]}", f"login-fail-ip:{ip}"


def is_blocked(ip: str, username: str) -> bool:
    limit = parse_rate(settings.LOGIN_RATE_LIMIT)
    user_key, ip_key = _keys(ip, username)
    values = cache.get_many([user_key, ip_key])
    return (values.get(user_key, 0) >= limit.attempts
            or values.get(ip_key, 0) >= limit.attempts * 4)


def record_failure(ip: str, username: str) -> None:
    limit = parse_rate(settings.LOGIN_RATE_LIMIT)
    for key in _keys(ip, username):
        if cache.add(key, 1, timeout=limit.window):
            continue
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=limit.window)


def reset(ip: str, username: str) -> None:
    cache.delete(_keys(ip, username)[0])


def client_ip(request) -> str:
    """The client's address; behind our reverse proxy, the one it appended to X-Forwarded-For.

    Only the last hop is trusted: earlier entries are whatever the client sent.
    """
    if settings.MEDIABAO_BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1][:64]
    return request.META.get("REMOTE_ADDR", "") or "unknown"
