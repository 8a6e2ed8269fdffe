"""Console entry point: ``wxsim --host 127.0.0.1 --port 8088``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys

from aiohttp import web

from .app import create_app
from .keys import SIM
from .state import State


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="wxsim", description="Offline WeChat simulator")
    p.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default)")
    p.add_argument("--port", type=int, default=8088, help="port (0 picks a free one)")
    p.add_argument("--state-file", default=None,
                   help="load state from this JSON file at start, save it at exit")
    p.add_argument("--ticket-interval", type=float, default=600.0,
                   help="seconds between component_verify_ticket pushes")
    p.add_argument("--push-timeout", type=float, default=5.0)
    p.add_argument("--push-retries", type=int, default=3)
    p.add_argument("--public-url", default=None,
                   help="base URL others use to reach wxsim (default http://host:port)")
    p.add_argument("--log-level", default=os.environ.get("WXSIM_LOG_LEVEL", "WARNING"))
    return p.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    state = State()
    if args.state_file and os.path.exists(args.state_file):
        state.load(args.state_file)
    app = create_app(state, push_timeout=args.push_timeout, push_retries=args.push_retries,
                     ticket_interval=args.ticket_interval, state_file=args.state_file)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, backlog=1024, reuse_address=True)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    host = args.host if args.host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
    base = args.public_url or f"http://{host}:{port}"
    app[SIM].base_url = base.rstrip("/")
    print(f"wxsim listening on {base}  control API: {base}/_sim/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
