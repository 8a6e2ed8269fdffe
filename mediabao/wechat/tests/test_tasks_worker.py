"""The retention prune through the real broker and a real Celery worker process.

The worker reads the committed test database (transactional test), so this checks what
beat will do in production: the task is registered under its name, routed, and runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from mediabao.wechat import tasks
from mediabao.wechat.models import Event

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[3]


def test_database_url() -> str:
    db = settings.DATABASES["default"]
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "localhost"
    host = quote(host, safe="") if host.startswith("/") else host
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{connection.settings_dict['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


@pytest.fixture
def worker(tmp_path):
    queue = f"wechat-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": test_database_url(), "REDIS_URL": settings.REDIS_URL,
           "MEDIABAO_TASK_QUEUE": queue, "PYTHONUNBUFFERED": "1",
           "MEDIABAO_CACHE_PREFIX": settings.CACHES["default"].get("KEY_PREFIX", ""),
           "MEDIABAO_EVENT_RETENTION_DAYS": "30"}
    log = (tmp_path / "worker.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "mediabao", "worker", "-Q", queue, "-c", "1",
         "--without-mingle", "--without-gossip", "-l", "INFO", "-n", f"wx{uuid.uuid4().hex[:6]}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    yield queue
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_prune_runs_on_a_real_worker(worker, account):
    now = timezone.now()
    for i, age in enumerate([1, 45, 400]):
        Event.objects.create(team=account.team, account=account, openid="o", msg_type="text",
                             dedup_key=str(i), received_at=now - timedelta(days=age))
    tasks.prune_events.apply_async(queue=worker)
    deadline = time.monotonic() + 90
    while Event.objects.count() != 1 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert Event.objects.count() == 1
    assert (now - Event.objects.get().received_at).days == 1
