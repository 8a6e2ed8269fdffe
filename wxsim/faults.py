"""Fault injection per endpoint: latency, errcodes, HTTP 5xx, dropped connections.

Rules match an endpoint name (``message/template/send``, ``token``, … or ``*``)
and optionally one appid. When no rule is set the dispatcher skips this module
entirely, so faults cost nothing on the hot path.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass, field

from aiohttp import web

from .errors import err_bytes


@dataclass
class Rule:
    endpoint: str = "*"
    appid: str = ""
    latency_ms: float = 0.0
    latency_dist: str = "fixed"  # fixed, uniform, normal, exponential
    latency_ms_max: float = 0.0  # uniform upper bound
    latency_ms_stddev: float = 0.0  # normal
    error_rate: float = 0.0
    errcode: int = -1
    http_status: int = 0
    http_rate: float = 0.0
    drop_rate: float = 0.0
    template_failed_rate: float = 0.0  # TEMPLATESENDJOBFINISH "failed: system failed"
    remaining: int = -1  # apply to the next N matching calls only (-1: forever)
    hits: int = field(default=0)

    def latency(self, rng: random.Random) -> float:
        base = self.latency_ms
        if self.latency_dist == "uniform":
            return rng.uniform(base, max(base, self.latency_ms_max))
        if self.latency_dist == "normal":
            return max(0.0, rng.gauss(base, self.latency_ms_stddev))
        if self.latency_dist == "exponential":
            return rng.expovariate(1.0 / base) if base > 0 else 0.0
        return base


class Faults:
    def __init__(self, seed: int | None = None) -> None:
        self.rules: list[Rule] = []
        self.rng = random.Random(seed)

    @property
    def active(self) -> bool:
        return bool(self.rules)

    def add(self, **kw: object) -> Rule:
        known = set(Rule.__dataclass_fields__) - {"hits"}
        unknown = set(kw) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        rule = Rule(**kw)  # type: ignore[arg-type]
        if rule.latency_dist not in ("fixed", "uniform", "normal", "exponential"):
            raise ValueError("latency_dist must be fixed, uniform, normal or exponential")
        for name in ("error_rate", "http_rate", "drop_rate", "template_failed_rate"):
            if not 0.0 <= float(getattr(rule, name)) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")
        self.rules.append(rule)
        return rule

    def clear(self, endpoint: str | None = None) -> int:
        before = len(self.rules)
        self.rules = [r for r in self.rules if endpoint is not None and r.endpoint != endpoint]
        return before - len(self.rules)

    def list(self) -> list[dict]:
        return [asdict(r) for r in self.rules]

    def _matching(self, endpoint: str, appid: str) -> list[Rule]:
        return [
            r for r in self.rules
            if r.endpoint in ("*", endpoint) and (not r.appid or r.appid == appid)
            and r.remaining != 0
        ]

    async def apply(self, endpoint: str, appid: str,
                    request: web.Request) -> web.StreamResponse | None:
        """Sleep and/or return a faulty response; None lets the call proceed."""
        rng = self.rng
        for r in self._matching(endpoint, appid):
            if r.remaining > 0:
                r.remaining -= 1
            r.hits += 1
            if r.latency_ms > 0 or r.latency_dist != "fixed":
                await asyncio.sleep(r.latency(rng) / 1000.0)
            if r.drop_rate and rng.random() < r.drop_rate:
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=499)
            if r.http_rate and rng.random() < r.http_rate:
                status = r.http_status or 502
                return web.Response(status=status, text=f"{status} Bad Gateway",
                                    content_type="text/html")
            if r.error_rate and rng.random() < r.error_rate:
                return web.Response(body=err_bytes(r.errcode), content_type="application/json")
        return None

    def template_system_failed(self, appid: str) -> bool:
        if not self.rules:
            return False
        for r in self._matching("message/template/send", appid):
            if r.template_failed_rate and self.rng.random() < r.template_failed_rate:
                return True
        return False
