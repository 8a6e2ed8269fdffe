"""A crowd driver: N seed fans spread a campaign through its posters.

Seed fans scan the entry QR code. Whenever a fan of the run receives an image
(the platform's poster, by customer-service message or passive reply), the
driver treats the account's most recent QR code as the poster's code (the
platform creates the code right before drawing the poster) and lets ``friends``
new people scan it, each with probability ``p_scan``; some joiners unfollow
later. With ``open_links``, a fan of the run who receives a news card opens its
link in the simulated browser (OAuth pages answered as that fan), as a fan taps
"点击链接生成我的专属海报". Every run is bounded in fans, rate and wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from . import actions

if TYPE_CHECKING:
    from .app import Sim
    from .state import Account

MAX_FANS_CAP = 100_000
MAX_RATE_CAP = 2000.0


@dataclass
class CrowdConfig:
    appid: str
    ticket: str
    seeds: int = 10
    friends: int = 3
    p_scan: float = 0.5
    p_unfollow: float = 0.1
    unfollow_after: float = 2.0
    keyword: str = ""
    max_fans: int = 1000
    rate: float = 50.0
    max_seconds: float = 120.0
    idle_seconds: float = 5.0
    concurrency: int = 20
    poster_qr_max_age: float = 120.0
    open_links: bool = False
    seed: int | None = None

    def validate(self) -> None:
        if not 0 <= self.p_scan <= 1 or not 0 <= self.p_unfollow <= 1:
            raise ValueError("probabilities must be within 0..1")
        if not 1 <= self.max_fans <= MAX_FANS_CAP:
            raise ValueError(f"max_fans must be within 1..{MAX_FANS_CAP}")
        if not 0 < self.rate <= MAX_RATE_CAP:
            raise ValueError(f"rate must be within (0, {MAX_RATE_CAP}]")
        if not 0 < self.max_seconds <= 3600:
            raise ValueError("max_seconds must be within (0, 3600]")
        if self.seeds < 1 or self.friends < 0 or self.concurrency < 1:
            raise ValueError("seeds >= 1, friends >= 0, concurrency >= 1")


@dataclass
class CrowdStats:
    joined: int = 0
    scans: int = 0
    posters: int = 0
    shares: int = 0
    unfollows: int = 0
    links_opened: int = 0
    errors: int = 0
    by_depth: dict[int, int] = field(default_factory=dict)
    last_error: str = ""


class CrowdRun:
    def __init__(self, sim: Sim, run_id: int, cfg: CrowdConfig) -> None:
        self.sim = sim
        self.id = run_id
        self.cfg = cfg
        self.acct: Account = sim.state.accounts[cfg.appid]
        actions.resolve_ticket(sim, self.acct, cfg.ticket)
        self.rng = random.Random(cfg.seed)
        self.stats = CrowdStats()
        self.depth: dict[int, int] = {}
        self.queue: asyncio.PriorityQueue = asyncio.PriorityQueue()
        self._tie = itertools.count()
        self.inflight = 0
        self.created = 0
        self.started = time.monotonic()
        self.finished: float | None = None
        self.state = "running"
        self.task: asyncio.Task | None = None
        self.sem = asyncio.Semaphore(cfg.concurrency)
        self._tasks: set[asyncio.Task] = set()

    def _schedule(self, delay: float, kind: str, *args: object) -> None:
        self.queue.put_nowait((time.monotonic() + delay, next(self._tie), kind, args))

    def start(self) -> None:
        for _ in range(self.cfg.seeds):
            self._schedule(0.0, "join", self.cfg.ticket, 0)
        self.task = asyncio.create_task(self._run())

    def on_image(self, fan: int) -> None:
        depth = self.depth.get(fan)
        if depth is None or self.state != "running":
            return
        self.stats.posters += 1
        ticket = self.acct.last_qr_ticket
        q = self.acct.qrcodes.get(ticket)
        if q is None or self.sim.clock.now() - q.created_at > self.cfg.poster_qr_max_age:
            return
        self.stats.shares += 1
        for _ in range(self.cfg.friends):
            if self.rng.random() < self.cfg.p_scan:
                self._schedule(self.rng.uniform(0.05, 0.5), "join", ticket, depth + 1)

    def on_link(self, fan: int, url: str) -> None:
        if not self.cfg.open_links or fan not in self.depth or self.state != "running":
            return
        if not url.startswith(("http://", "https://")):
            return
        self._schedule(self.rng.uniform(0.05, 0.3), "open", fan, url)

    async def _run(self) -> None:
        cfg = self.cfg
        deadline = self.started + cfg.max_seconds
        interval = 1.0 / cfg.rate
        next_slot = time.monotonic()
        idle_since: float | None = None
        try:
            while time.monotonic() < deadline:
                try:
                    due, _, kind, args = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    if self.inflight == 0:
                        idle_since = idle_since or time.monotonic()
                        if time.monotonic() - idle_since > cfg.idle_seconds:
                            break
                    await asyncio.sleep(0.02)
                    continue
                idle_since = None
                if kind == "join" and self.created >= cfg.max_fans:
                    continue
                now = time.monotonic()
                wait = max(due, next_slot) - now
                if wait > 0:
                    await asyncio.sleep(wait)
                next_slot = max(next_slot + interval, time.monotonic())
                if kind == "join":
                    self.created += 1
                await self.sem.acquire()
                self.inflight += 1
                t = asyncio.create_task(self._do(kind, args))
                self._tasks.add(t)
                t.add_done_callback(self._tasks.discard)
            self.state = "finished"
        except asyncio.CancelledError:
            self.state = "stopped"
            raise
        finally:
            self.finished = time.monotonic()

    async def _do(self, kind: str, args: tuple) -> None:
        try:
            if kind == "join":
                ticket, depth = args
                fan = self.acct.fans.add(False, 0)
                self.depth[fan] = depth
                self.stats.scans += 1
                await actions.scan(self.sim, self.acct, fan, ticket)
                self.stats.joined += 1
                self.stats.by_depth[depth] = self.stats.by_depth.get(depth, 0) + 1
                if self.cfg.keyword:
                    await actions.send_text(self.sim, self.acct, fan, self.cfg.keyword)
                if self.rng.random() < self.cfg.p_unfollow:
                    self._schedule(self.cfg.unfollow_after, "unfollow", fan)
            elif kind == "open":
                from .control import browser_of  # control imports this module

                fan, url = args
                page = await browser_of(self.sim).open(url, self.acct, fan)
                self.stats.links_opened += 1
                if not page.get("ok"):
                    raise RuntimeError(f"opening {url[:80]}: status {page.get('status')} "
                                       f"{page.get('error', '')}".strip())
            elif kind == "unfollow":
                (fan,) = args
                if self.acct.fans.subscribed[fan]:
                    await actions.unsubscribe(self.sim, self.acct, fan)
                    self.stats.unfollows += 1
        except Exception as exc:  # noqa: BLE001 - count and keep the crowd going
            self.stats.errors += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
        finally:
            self.inflight -= 1
            self.sem.release()

    def status(self) -> dict:
        end = self.finished or time.monotonic()
        return {"id": self.id, "state": self.state, "config": asdict(self.cfg),
                "stats": asdict(self.stats), "fans_created": self.created,
                "pending": self.queue.qsize(), "inflight": self.inflight,
                "elapsed_s": round(end - self.started, 3)}


class CrowdManager:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.runs: dict[int, CrowdRun] = {}
        self._ids = itertools.count(1)

    def start(self, cfg: CrowdConfig) -> CrowdRun:
        cfg.validate()
        run = CrowdRun(self.sim, next(self._ids), cfg)
        self.runs[run.id] = run
        run.start()
        return run

    def on_image(self, acct: Account, fan: int) -> None:
        for run in self.runs.values():
            if run.acct is acct and run.state == "running":
                run.on_image(fan)

    def on_link(self, acct: Account, fan: int, url: str) -> None:
        for run in self.runs.values():
            if run.acct is acct and run.state == "running":
                run.on_link(fan, url)

    async def stop(self, run_id: int) -> dict:
        run = self.runs[run_id]
        if run.task is not None and not run.task.done():
            run.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run.task
        return run.status()

    async def stop_all(self) -> None:
        for rid in list(self.runs):
            await self.stop(rid)
