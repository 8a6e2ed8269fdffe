"""A small round-robin HTTP reverse proxy (the load balancer of the scenario).

    python -m scenario.proxy --port 8700 --backend http://127.0.0.1:8701 --backend http://127.0.0.1:8702

Each request goes to the next backend in turn; a backend that refuses the connection is
skipped for that request (the next one is tried), like a balancer's passive health check.
Redirects are passed through, not followed. ``GET /_proxy/stats`` shows requests per backend.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging

import aiohttp
from aiohttp import web

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "host", "content-length"}
log = logging.getLogger("scenario.proxy")


def make_app(backends: list[str], timeout: float = 60.0) -> web.Application:
    order = itertools.cycle(range(len(backends)))
    counts = [0] * len(backends)
    failures = [0] * len(backends)
    state: dict = {}

    async def on_startup(app: web.Application) -> None:
        state["session"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=400), auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=timeout))

    async def on_cleanup(app: web.Application) -> None:
        await state["session"].close()

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"backends": backends, "requests": counts, "refused": failures})

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = request.host
        headers["X-Forwarded-For"] = request.remote or ""
        first = next(order)
        last_exc: Exception | None = None
        for step in range(len(backends)):
            i = (first + step) % len(backends)
            try:
                async with state["session"].request(
                        request.method, backends[i] + request.rel_url.raw_path_qs, headers=headers,
                        data=body, allow_redirects=False) as resp:
                    payload = await resp.read()
                    counts[i] += 1
                    out = web.Response(status=resp.status, body=payload)
                    for k, v in resp.headers.items():
                        if k.lower() not in HOP_BY_HOP and k.lower() != "content-encoding":
                            out.headers.add(k, v)
                    if "Content-Encoding" in resp.headers:
                        out.headers["Content-Encoding"] = resp.headers["Content-Encoding"]
                    return out
            except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as exc:
                failures[i] += 1
                last_exc = exc
        return web.Response(status=502, text=f"no backend answered: {last_exc}")

    app = web.Application(client_max_size=32 * 1024 * 1024)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_get("/_proxy/stats", stats)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", action="append", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve(args.host, args.port, [b.rstrip("/") for b in args.backend]))


async def _serve(host: str, port: int, backends: list[str]) -> None:
    runner = web.AppRunner(make_app(backends), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print(f"proxy listening on http://{host}:{port} -> {', '.join(backends)}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    main()
