"""The ``mediabao`` command: ``mediabao up`` runs the whole platform, ``mediabao bench`` runs
every benchmark; anything else is passed to Django's management commands (``mediabao
migrate``, ``mediabao shell`` …)."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.util
import logging
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path

from mediabao.envutil import env_int

log = logging.getLogger("mediabao.up")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediabao.settings")
    if argv and argv[0] == "up":
        sys.exit(up(argv[1:]))
    if argv and argv[0] == "bench":
        sys.exit(bench(argv[1:]))
    if argv and argv[0] == "manage":
        argv = argv[1:]
    from django.core.management import execute_from_command_line

    execute_from_command_line(["mediabao", *argv])


def bench(argv: list[str]) -> int:
    """``mediabao bench [--quick] [--only a,b]``: every benchmark, one table (bench/run_all.py).

    The benchmarks live next to the package in a source checkout, not in the installed package.
    """
    root = Path(__file__).resolve().parent.parent
    if not (root / "bench" / "run_all.py").exists():
        print("mediabao bench needs a source checkout (the bench/ folder next to mediabao/).",
              file=sys.stderr)
        return 2
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from bench.run_all import main as run_all

    return run_all(argv)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mediabao up",
                                     description="Run MediaBao: database, Redis, web, worker, "
                                                 "beat and the WeChat simulator.")
    parser.add_argument("--host", default=os.environ.get("MEDIABAO_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=env_int("MEDIABAO_PORT", 8000))
    parser.add_argument("--web-workers", type=int, default=env_int("MEDIABAO_WEB_WORKERS", 2))
    # Requests mostly wait on PostgreSQL (a callback's commit is an fsync): more threads
    # than cores keep the CPUs busy. One database connection per thread.
    parser.add_argument("--web-threads", type=int, default=env_int("MEDIABAO_WEB_THREADS", 8))
    parser.add_argument("--worker-concurrency", type=int,
                        default=env_int("MEDIABAO_WORKER_CONCURRENCY", 2))
    parser.add_argument("--no-wxsim", action="store_true", help="do not run the simulator")
    return parser.parse_args(argv)


def up(argv: list[str]) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s up: %(message)s",
                        datefmt="%H:%M:%S")
    data_dir = Path(os.environ.get("MEDIABAO_DATA_DIR", "var")).resolve()
    os.environ["MEDIABAO_DATA_DIR"] = str(data_dir)
    os.environ["MEDIABAO_PORT"] = str(args.port)
    run_dir = data_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)

    lock = open(run_dir / "up.lock", "a+")  # noqa: SIM115 - held for the life of up
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        print(f"MediaBao is already running on {data_dir} (pid {lock.read().strip() or '?'}).",
              file=sys.stderr)
        return 1
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()

    from mediabao import embedded
    from mediabao.supervisor import Child, Supervisor

    supervisor = Supervisor(run_dir)
    supervisor.stop_leftovers()
    servers: list = []
    stop_requested = {"signal": None}

    def _on_signal(signum, frame):
        stop_requested["signal"] = signum

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    try:
        if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
            log.info("starting embedded PostgreSQL and Redis under %s", data_dir)
            pg, rd, urls = embedded.start_servers(
                data_dir, env_int("MEDIABAO_PG_PORT", 0), env_int("MEDIABAO_REDIS_PORT", 0))
            servers = [rd, pg]
            os.environ.setdefault("DATABASE_URL", urls.database_url)
            os.environ.setdefault("REDIS_URL", urls.redis_url)

        wants_sim = (not args.no_wxsim and not os.environ.get("WECHAT_API_BASE")
                     and importlib.util.find_spec("wxsim.__main__") is not None)
        if wants_sim and not os.environ.get("WECHAT_COMPONENT_APPID"):
            from mediabao.sandbox import component_credentials

            os.environ.update(component_credentials(data_dir))  # children inherit them

        import django
        from django.conf import settings
        from django.core.management import call_command

        django.setup()
        log.info("applying database migrations")
        call_command("migrate", interactive=False, verbosity=0)
        if settings.PRODUCTION:
            call_command("collectstatic", interactive=False, verbosity=0)
        login = _ensure_demo(settings.DEMO_USERNAME)

        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        logs = data_dir / "log"
        py = sys.executable
        wxsim_ok = wants_sim and settings.WXSIM_ENABLED
        if wxsim_ok:
            supervisor.add(Child("wxsim", [py, "-m", "wxsim", "--host", "127.0.0.1", "--port",
                                           str(settings.WXSIM_PORT), "--state-file",
                                           str(data_dir / "wxsim-state.json")], env,
                                 logs / "wxsim.log"))
        supervisor.add(Child("worker", [py, "-m", "celery", "-A", "mediabao", "worker",
                                        "-l", "INFO", "-c", str(args.worker_concurrency),
                                        "-Q", settings.CELERY_TASK_DEFAULT_QUEUE,
                                        "-n", f"worker-{os.getpid()}@%h"], env,
                             logs / "worker.log", stop_timeout=30))
        supervisor.add(Child("beat", [py, "-m", "celery", "-A", "mediabao", "beat", "-l", "INFO",
                                      "-s", str(run_dir / "celerybeat-schedule"),
                                      "--pidfile", ""], env, logs / "beat.log"))
        supervisor.add(Child("web", [py, "-m", "gunicorn", "mediabao.wsgi:application",
                                     "--bind", f"{args.host}:{args.port}",
                                     "--workers", str(args.web_workers), "--threads", str(args.web_threads),
                                     "--worker-class", "gthread", "--timeout", "30",
                                     "--graceful-timeout", "10", "--access-logfile", "-"],
                             env, logs / "web.log"))

        url = f"http://{args.host}:{args.port}"
        _wait_healthy(url, supervisor, stop_requested)
        demo_account = None
        if wxsim_ok:
            from mediabao.sandbox import prepare

            try:
                demo_account = prepare(f"http://127.0.0.1:{settings.WXSIM_PORT}")
            except Exception as exc:  # noqa: BLE001 - the platform runs; the demo is a bonus
                log.warning("the sandbox demo account could not be prepared: %s", exc)
        print(f"\nMediaBao is running: {url}/console/", flush=True)
        print(f"  API docs: {url}/api/docs/   health: {url}/healthz", flush=True)
        if wxsim_ok:
            print(f"  WeChat simulator (control API): http://127.0.0.1:{settings.WXSIM_PORT}/_sim/",
                  flush=True)
        if demo_account:
            print(f"  Sandbox: {demo_account} (authorized through the simulated third-party "
                  "platform, followers syncing)", flush=True)
        if login:
            print(f"  Demo login (shown once): {login[0]} / {login[1]}", flush=True)
        print(f"  Logs: {logs}/   Stop: Ctrl-C\n", flush=True)

        reason = None
        while stop_requested["signal"] is None and reason is None:
            time.sleep(0.5)
            reason = supervisor.check()
        if reason:
            print(f"\nStopping MediaBao: {reason}", file=sys.stderr, flush=True)
            return 1
        print("\nStopping MediaBao…", flush=True)
        return 0
    except _Interrupted:
        return 0
    except Exception as exc:  # noqa: BLE001 - report and stop everything
        print(f"\nMediaBao could not start: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop_all()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if servers:
            embedded.stop_servers(data_dir, servers)
        print("MediaBao stopped.", flush=True)


class _Interrupted(Exception):
    pass


def _ensure_demo(username: str) -> tuple[str, str] | None:
    from mediabao.accounts.services import ensure_demo_operator

    created = ensure_demo_operator(username=username)
    if created is None:
        return None
    user, password = created
    return user.username, password


def _wait_healthy(url: str, supervisor, stop_requested: dict, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if stop_requested["signal"] is not None:
            raise _Interrupted
        reason = supervisor.check()
        if reason:
            raise RuntimeError(reason)
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=3) as response:  # noqa: S310
                if response.status == 200:
                    return
        except Exception as exc:  # noqa: BLE001 - not up yet
            last = str(exc)
        time.sleep(0.5)
    raise RuntimeError(f"the platform did not become healthy within {int(timeout)} s ({last})")


if __name__ == "__main__":
    main()
