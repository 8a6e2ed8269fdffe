"""PostgreSQL and Redis for the scenario: servers of its own (restartable) or the machine's.

The scenario never restarts a server it did not start. For the restart faults it runs a
PostgreSQL cluster of its own (``initdb`` with the system's ``/usr/lib/postgresql/*/bin``
binaries into a temporary folder, as the ``postgres`` system user when run as root) and a
``redis-server`` of its own, both on loopback ports. The platform reaches them exactly as
in services mode: ``DATABASE_URL``/``REDIS_URL`` pointing at real servers.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import redis

from mediabao.embedded import die_with_parent, port_open, stop_pid

DB_NAME = "mediabao_scenario"


def _wait(ready, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not get ready within {timeout:.0f} s")


def pg_bindir() -> Path:
    """The newest system PostgreSQL's binaries (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if not found:
        raise RuntimeError("no system PostgreSQL binaries under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


def _pg_ready(port: int) -> bool:
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2) as c:
        c.execute("SELECT 1")
    return True


def create_database(admin_url: str, name: str = DB_NAME) -> None:
    """Drop and create ``name`` (a fresh database every run)."""
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE datname = %s AND pid <> pg_backend_pid()", [name])
        c.execute(f'DROP DATABASE IF EXISTS "{name}"')
        c.execute(f'CREATE DATABASE "{name}"')


class OwnPostgres:
    """A throw-away cluster on ``port``; :meth:`restart` is a fast shutdown and a new start."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.pgdata = root / "pg"
        self.log = root / "log" / "postgres.log"
        self.user = "postgres" if os.geteuid() == 0 else None
        self.proc: subprocess.Popen | None = None

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DB_NAME}"

    def init(self) -> None:
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is in use; pick another with --pg-port")
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        if self.user:
            entry = pwd.getpwnam(self.user)
            for path in (self.root, self.pgdata):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            self.pgdata.chmod(0o700)
            self.root.chmod(0o755)
        subprocess.run([str(pg_bindir() / "initdb"), "-D", str(self.pgdata), "--auth=trust",
                        "--encoding=UTF8", "--locale=C.UTF-8", "-U", "postgres"],
                       check=True, user=self.user, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                [str(pg_bindir() / "postgres"), "-D", str(self.pgdata), "-p", str(self.port),
                 "-h", "127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200",
                 "-c", "shared_buffers=128MB", "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off"],
                user=self.user, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent, start_new_session=True)
        _wait(lambda: _pg_ready(self.port), f"PostgreSQL on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_pid(self.proc.pid, timeout=20, sig=signal.SIGINT)  # fast shutdown
            with contextlib.suppress(Exception):
                self.proc.wait(5)

    def restart(self, down_seconds: float = 1.0) -> float:
        """``pg_ctl restart -m fast`` on our own postmaster; returns the seconds it was down."""
        t0 = time.monotonic()
        self.stop()
        time.sleep(down_seconds)
        self.start()
        return time.monotonic() - t0


class OwnRedis:
    """``redis-server --save "" --appendonly no|yes`` on ``port`` (no: a restart loses every key)."""

    def __init__(self, root: Path, port: int, persistence: str = "none") -> None:
        self.root, self.port = root, port
        self.log = root / "log" / "redis.log"
        #: "none": a restart loses every key (the worst case); "aof": as docs/deployment.md advises
        self.persistence = persistence
        self.proc: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is in use; pick another with --redis-port")
        exe = shutil.which("redis-server")
        if not exe:
            from mediabao.embedded import redis_bin
            exe = redis_bin()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "yes" if self.persistence == "aof" else "no", "--dir", str(self.root)],
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent, start_new_session=True)
        _wait(lambda: redis.Redis(port=self.port, socket_timeout=1).ping(), f"Redis on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_pid(self.proc.pid, timeout=10)
            with contextlib.suppress(Exception):
                self.proc.wait(5)

    def restart(self, down_seconds: float = 1.0) -> float:
        t0 = time.monotonic()
        self.stop()
        time.sleep(down_seconds)
        self.start()
        return time.monotonic() - t0
