"""The simulator's aiohttp application: WeChat API dispatcher plus control API.

``create_app()`` wires state, clock, pusher, faults and crowd together. Every
WeChat endpoint goes through :func:`_wrap`, which checks the token, account
permissions and the daily quota, applies faults, counts the call, and turns
any exception into WeChat's own error body: never a 500 or a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from aiohttp import web

from . import api
from .api import Ctx, Endpoint
from .clock import Clock
from .errors import WxError, err_body, err_bytes
from .faults import Faults
from .keys import SIM
from .push import Pusher
from .state import State

log = logging.getLogger("wxsim")
_JSON = "application/json"


class Sim:
    """The running simulator: state plus the services that act on it."""

    def __init__(self, state: State | None = None, *, base_url: str = "",
                 push_timeout: float = 5.0, push_retries: int = 3,
                 ticket_interval: float = 600.0, state_file: str | None = None,
                 fault_seed: int | None = None) -> None:
        self.state = state or State()
        self.clock: Clock = self.state.clock
        self.base_url = base_url.rstrip("/")
        self.pusher = Pusher(self, timeout=push_timeout, retries=push_retries)
        self.faults = Faults(fault_seed)
        self.ticket_interval = ticket_interval
        self.state_file = state_file
        self.started_at = time.time()
        self.background: set[asyncio.Task] = set()
        from .crowd import CrowdManager

        self.crowd = CrowdManager(self)

    def spawn(self, coro: Any) -> asyncio.Task:
        """Run a coroutine in the background; it is cancelled when the simulator stops."""
        task = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    def on_image_delivered(self, acct: Any, fan: int) -> None:
        """Hook: a fan received an image (maybe a poster); the crowd reacts to it."""
        self.crowd.on_image(acct, fan)

    def on_link_delivered(self, acct: Any, fan: int, url: str) -> None:
        """Hook: a fan received a news card (maybe the poster link); the crowd may open it."""
        if url:
            self.crowd.on_link(acct, fan, url)

    async def start(self) -> None:
        await self.pusher.start()
        from .api.component import ticket_loop

        self.spawn(ticket_loop(self))

    async def stop(self) -> None:
        await self.crowd.stop_all()
        tasks = list(self.background)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.pusher.close()
        if self.state_file:
            try:
                self.state.save(self.state_file)
            except OSError:
                log.exception("could not save state to %s", self.state_file)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data, ensure_ascii=False).encode(), status=status,
                        content_type=_JSON)


def _wrap(sim: Sim, ep: Endpoint) -> Any:
    state = sim.state
    faults = sim.faults
    func = ep.func
    name = ep.name
    auth = ep.auth
    quota = ep.quota
    dumps = json.dumps
    log_append = state.call_log.append
    count = state.count

    async def handler(request: web.Request) -> web.StreamResponse:
        t0 = time.perf_counter()
        appid = ""
        code = 0
        ctx = Ctx(request, sim)
        try:
            if auth == "token":
                info = state.check_token(request.query.get("access_token"))
                acct = state.accounts.get(info.owner)
                if acct is None:
                    raise WxError(40001)
                ctx.acct = acct
                ctx.token = info
                appid = acct.appid
                if (ep.need_service and acct.type != "service") or (
                    ep.need_verified and not acct.verified
                ):
                    raise WxError(48001)
            if faults.rules:
                faulty = await faults.apply(name, appid, request)
                if faulty is not None:
                    count(name, -2)
                    return faulty
            if quota is not None and ctx.acct is not None:
                state.use_quota(ctx.acct, quota)
            result = await func(ctx)
            if isinstance(result, web.StreamResponse):
                return result
            code = result.get("errcode", 0)
            return web.Response(body=dumps(result, ensure_ascii=False).encode(),
                                content_type=_JSON)
        except WxError as exc:
            code = exc.code
            return web.Response(body=dumps(exc.body(), ensure_ascii=False).encode(),
                                content_type=_JSON)
        except asyncio.CancelledError:
            raise
        except Exception:
            code = -1
            log.exception("unexpected error in %s", name)
            return web.Response(body=err_bytes(-1), content_type=_JSON)
        finally:
            if not appid and ctx.acct is not None:
                appid = ctx.acct.appid
            count(name, code)
            log_append((time.time(), appid, name, code, time.perf_counter() - t0))

    return handler


def guard(handler: Any) -> Any:
    """Wrap a non-API handler (pages, showqrcode, avatars): never a traceback.

    Used instead of a middleware so the template/send hot path pays nothing for it.
    """

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (web.HTTPException, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("unexpected error for %s %s", request.method, request.path)
            return json_response(err_body(-1))

    return guarded


async def not_simulated(request: web.Request) -> web.Response:
    """Unknown ``/cgi-bin`` or ``/sns`` paths: a WeChat-shaped error, not an HTML 404."""
    return json_response(err_body(48001, "api unauthorized hint: [wxsim: not simulated]"))


def create_app(state: State | None = None, *, base_url: str = "", push_timeout: float = 5.0,
               push_retries: int = 3, ticket_interval: float = 600.0,
               state_file: str | None = None, fault_seed: int | None = None) -> web.Application:
    """Build the simulator app. ``base_url`` is how the platform reaches us (for links)."""
    sim = Sim(state, base_url=base_url, push_timeout=push_timeout, push_retries=push_retries,
              ticket_interval=ticket_interval, state_file=state_file, fault_seed=fault_seed)
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app[SIM] = sim
    api.load_all()
    seen: set[tuple[str, str]] = set()
    for ep in api.REGISTRY:
        h = _wrap(sim, ep)
        for method in ep.methods:
            if (method, ep.path) in seen:
                continue
            seen.add((method, ep.path))
            app.router.add_route(method, ep.path, h)
    from .api import component, oauth, qrcode
    from .control import setup_control

    app.router.add_get("/cgi-bin/showqrcode", guard(qrcode.showqrcode))
    oauth.setup_pages(app, guard)
    component.setup_pages(app, guard)
    setup_control(app)
    app.router.add_route("*", "/cgi-bin/{tail:.*}", not_simulated)
    app.router.add_route("*", "/sns/{tail:.*}", not_simulated)

    async def on_startup(app: web.Application) -> None:
        if not sim.base_url:
            sim.base_url = app.get("base_url", "")
        await sim.start()

    async def on_cleanup(app: web.Application) -> None:
        await sim.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app
