"""Real Celery worker processes for the reliability tests (they read committed data)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from mediabao.embedded import die_with_parent

ROOT = Path(__file__).resolve().parents[3]


def database_url() -> str:
    """The URL of the database the tests use (pytest-django's test database)."""
    db = settings.DATABASES["default"]
    host = db.get("HOST") or "localhost"
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host_part = quote(host, safe="") if host.startswith("/") else host
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host_part}{port}/{connection.settings_dict['NAME']}"


class Worker:
    """``celery -A mediabao worker -Q <queue> -c 1`` in its own process group."""

    def __init__(self, queue: str, log: Path, **env: str) -> None:
        self.queue, self.log = queue, log
        self.env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL,
                    "MEDIABAO_TASK_QUEUE": queue, "WECHAT_API_BASE": settings.WECHAT_API_BASE,
                    "MEDIABAO_CACHE_PREFIX": settings.CACHES["default"].get("KEY_PREFIX", ""),
                    "WECHAT_RETRY_BASE_SECONDS": "0.01", "PYTHONUNBUFFERED": "1", **env}
        self.proc: subprocess.Popen | None = None

    def start(self) -> Worker:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mediabao", "worker", "-Q", self.queue, "-c", "1",
             "--without-mingle", "--without-gossip", "-l", "INFO", "-n", f"w{uuid.uuid4().hex[:6]}@%h"],
            cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent)  # a killed or timed-out test run leaves no worker behind
        return self

    def kill9(self) -> None:
        """The machine dies: SIGKILL to the worker and its pool children at once."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()


def wait_for(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")
