"""Helpers for other packages' tests: run wxsim on a free loopback port and drive it.

    with run_wxsim() as sim:                 # background thread, same process
        c = sim.client
        acct = c.create_account(server_url="http://127.0.0.1:8000/wechat/callback")
        openids = c.create_fans(acct["appid"], 3)
        c.fan_send_text(acct["appid"], openids[0], "hello")
        c.inbox(acct["appid"], openids[0])

``run_wxsim(subprocess=True)`` starts ``python -m wxsim`` instead (a real
separate process, as ``mediabao up`` runs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import requests

from .keys import SIM


class SimError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"wxsim control API error {status}: {body}")
        self.status = status
        self.body = body


class SimClient:
    """A tiny synchronous client for the control API (``/_sim/...``)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()

    def _call(self, method: str, path: str, body: dict | None = None,
              params: dict | None = None) -> dict:
        r = self.http.request(method, f"{self.base_url}/_sim{path}", json=body, params=params,
                              timeout=self.timeout)
        try:
            data = r.json()
        except ValueError as exc:
            raise SimError(r.status_code, r.text) from exc
        if r.status_code >= 400 or not data.get("ok", False):
            raise SimError(r.status_code, data)
        return data

    # general
    def info(self) -> dict:
        return self._call("GET", "/")

    def reset(self) -> None:
        self._call("POST", "/reset")

    def advance_clock(self, seconds: float) -> float:
        return self._call("POST", "/clock/advance", {"seconds": seconds})["now"]

    def set_push(self, timeout: float | None = None, retries: int | None = None) -> dict:
        body: dict = {}
        if timeout is not None:
            body["timeout"] = timeout
        if retries is not None:
            body["retries"] = retries
        return self._call("POST", "/push/config", body)

    def drain_pushes(self, timeout: float = 10.0) -> bool:
        return self._call("POST", "/push/drain", {"timeout": timeout})["drained"]

    def pushes(self, appid: str | None = None, limit: int = 100) -> list[dict]:
        params: dict = {"limit": limit}
        if appid:
            params["appid"] = appid
        return self._call("GET", "/pushes", params=params)["pushes"]

    def calls(self, appid: str | None = None, endpoint: str | None = None,
              limit: int = 100) -> list[dict]:
        params: dict = {"limit": limit}
        if appid:
            params["appid"] = appid
        if endpoint:
            params["endpoint"] = endpoint
        return self._call("GET", "/calls", params=params)["calls"]

    def counters(self) -> dict:
        return self._call("GET", "/counters")["counters"]

    # accounts, fans, templates
    def create_account(self, **fields: Any) -> dict:
        return self._call("POST", "/accounts", fields)["account"]

    def update_account(self, appid: str, **fields: Any) -> dict:
        return self._call("PATCH", f"/accounts/{appid}", fields)["account"]

    def account(self, appid: str) -> dict:
        return self._call("GET", f"/accounts/{appid}")["account"]

    def create_fans(self, appid: str, count: int = 1, **fields: Any) -> list[str]:
        """Create fans; returns their openids (for count <= 1000)."""
        data = self._call("POST", f"/accounts/{appid}/fans", {"count": count, **fields})
        return data.get("openids") or [data["first_openid"], data["last_openid"]]

    def fan(self, appid: str, openid: str) -> dict:
        return self._call("GET", f"/accounts/{appid}/fans/{openid}")["fan"]

    def create_template(self, appid: str, title: str, content: str,
                        kind: str | None = None) -> dict:
        body: dict = {"title": title, "content": content}
        if kind:
            body["kind"] = kind
        return self._call("POST", f"/accounts/{appid}/templates", body)["template"]

    def expire_tokens(self, appid: str) -> int:
        return self._call("POST", f"/accounts/{appid}/expire_tokens")["expired"]

    def set_quota(self, appid: str, endpoint: str, **fields: Any) -> dict:
        return self._call("POST", f"/accounts/{appid}/quota", {"endpoint": endpoint, **fields})

    # fan actions
    def fan_action(self, appid: str, openid: str, action: str, **body: Any) -> dict:
        data = self._call("POST", f"/accounts/{appid}/fans/{openid}/{action}", body)
        return data.get("result", data)

    def fan_send_text(self, appid: str, openid: str, content: str) -> dict:
        return self.fan_action(appid, openid, "text", content=content)

    def fan_subscribe(self, appid: str, openid: str, ticket: str | None = None) -> dict:
        return self.fan_action(appid, openid, "subscribe", **({"ticket": ticket} if ticket else {}))

    def fan_scan(self, appid: str, openid: str, ticket: str) -> dict:
        return self.fan_action(appid, openid, "scan", ticket=ticket)

    def fan_unsubscribe(self, appid: str, openid: str) -> dict:
        return self.fan_action(appid, openid, "unsubscribe")

    def fan_click(self, appid: str, openid: str, key: str) -> dict:
        return self.fan_action(appid, openid, "click", key=key)

    def fan_open(self, appid: str, openid: str, url: str) -> dict:
        return self.fan_action(appid, openid, "open", url=url)

    def inbox(self, appid: str, openid: str, since: int = 0) -> list[dict]:
        return self._call("GET", f"/accounts/{appid}/fans/{openid}/inbox",
                          params={"since": since})["messages"]

    # faults
    def set_fault(self, endpoint: str = "*", **rule: Any) -> dict:
        return self._call("POST", "/faults", {"endpoint": endpoint, **rule})["rule"]

    def clear_faults(self) -> int:
        return self._call("DELETE", "/faults")["removed"]

    # components
    def create_component(self, **fields: Any) -> dict:
        return self._call("POST", "/components", fields)

    def push_ticket(self, component_appid: str) -> dict:
        return self._call("POST", f"/components/{component_appid}/ticket")["result"]

    def authorize_component(self, component_appid: str, authorizer_appid: str,
                            **body: Any) -> dict:
        return self._call("POST", f"/components/{component_appid}/authorize",
                          {"authorizer_appid": authorizer_appid, **body})

    def unauthorize_component(self, component_appid: str, authorizer_appid: str) -> dict:
        return self._call("POST", f"/components/{component_appid}/unauthorize",
                          {"authorizer_appid": authorizer_appid})["result"]

    def open_url(self, url: str, **body: Any) -> dict:
        return self._call("POST", "/browser/open", {"url": url, **body})["result"]

    # crowd
    def start_crowd(self, **config: Any) -> dict:
        return self._call("POST", "/crowd", config)["run"]

    def crowd(self, run_id: int) -> dict:
        return self._call("GET", f"/crowd/{run_id}")["run"]


class ThreadedSim:
    """wxsim running on its own event loop in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **app_kw: Any) -> None:
        self.host = host
        self.port = port
        self.app_kw = app_kw
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="wxsim")
        self.runner: Any = None
        self.app: Any = None
        self.base_url = ""

    def start(self) -> ThreadedSim:
        from aiohttp import web

        from .app import create_app

        self.thread.start()

        async def _start() -> str:
            self.app = create_app(**self.app_kw)
            self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
            await self.runner.setup()
            site = web.TCPSite(self.runner, self.host, self.port)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            base = f"http://{self.host}:{port}"
            self.app[SIM].base_url = base
            return base

        self.base_url = asyncio.run_coroutine_threadsafe(_start(), self.loop).result(30)
        self.client = SimClient(self.base_url)
        return self

    @property
    def sim(self) -> Any:
        return self.app[SIM]

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the simulator's loop (for white-box tests)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.runner is not None:
            with contextlib.suppress(Exception):
                self.call(self.runner.cleanup(), 30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class SubprocessSim:
    """``python -m wxsim`` as a child process on a free port."""

    def __init__(self, host: str = "127.0.0.1", extra_args: list[str] | None = None) -> None:
        self.host = host
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen | None = None
        self.base_url = ""

    def start(self, timeout: float = 30.0) -> SubprocessSim:
        cmd = [sys.executable, "-m", "wxsim", "--host", self.host, "--port", "0",
               *self.extra_args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.proc.stdout is not None
        result: list[str] = []

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            result.append(self.proc.stdout.readline())

        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(timeout)
        line = result[0] if result else ""
        if "listening on " not in line:
            self.stop()
            raise RuntimeError(f"wxsim did not start: {line!r}")
        self.base_url = line.split("listening on ", 1)[1].split()[0]
        self.client = SimClient(self.base_url)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextlib.contextmanager
def run_wxsim(subprocess: bool = False, **kw: Any) -> Iterator[ThreadedSim | SubprocessSim]:
    """Start wxsim on 127.0.0.1 with a free port; stop it on exit."""
    sim: ThreadedSim | SubprocessSim = SubprocessSim(**kw) if subprocess else ThreadedSim(**kw)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()
