"""Fixtures: one wxsim per session (threaded, loopback), a fresh account per test,
and a tiny callback receiver standing in for the platform."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from aiohttp import web

from wxsim.testing import SimClient, ThreadedSim

WECHAT_HOSTS = ("https://api.weixin.qq.com", "https://open.weixin.qq.com",
                "https://mp.weixin.qq.com")


class RewriteSession(requests.Session):
    """A requests session that sends WeChat's hosts to wxsim (for wechatpy)."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        for host in WECHAT_HOSTS:
            if url.startswith(host):
                url = self.base_url + url[len(host):]
        return super().request(method, url, *args, **kwargs)


@pytest.fixture(scope="session")
def wx() -> Iterator[ThreadedSim]:
    sim = ThreadedSim(push_timeout=1.0, push_retries=3, ticket_interval=3600)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def client(wx: ThreadedSim) -> SimClient:
    return wx.client


@pytest.fixture
def account(client: SimClient) -> dict:
    return client.create_account()


@pytest.fixture
def rewrite(wx: ThreadedSim) -> Callable[[], RewriteSession]:
    return lambda: RewriteSession(wx.base_url)


class Receiver:
    """A stand-in platform callback server on its own loop and thread.

    ``handler(request_info) -> (status, body, delay_seconds)`` decides each answer.
    """

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.handler: Callable[[dict], tuple[int, str, float]] = lambda r: (200, "success", 0)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.url = ""
        self.event = threading.Event()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        info = {"method": request.method, "path": request.path, "query": dict(request.query),
                "body": body}
        self.requests.append(info)
        self.event.set()
        status, text, delay = self.handler(info)
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=status, text=text, content_type="text/xml")

    def start(self) -> Receiver:
        self.thread.start()

        async def _start() -> str:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self.runner = web.AppRunner(app, access_log=None)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            return f"http://127.0.0.1:{port}/wechat"

        self.url = asyncio.run_coroutine_threadsafe(_start(), self.loop).result(10)
        return self

    def wait(self, n: int = 1, timeout: float = 10.0) -> list[dict]:
        import time

        deadline = time.monotonic() + timeout
        while len(self.requests) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.requests

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()
