"""A Redis (broker) restart while a real Celery worker holds messages.

A worker subprocess (the product's Celery app and settings, a Redis of its own with AOF as
docs/deployment.md advises, a visibility timeout of 30 s) gets two messages: a task that
runs 40 s (longer than the visibility timeout) and a task with a 10 s countdown, which the
worker holds unacknowledged until it is due. Redis is restarted while both are held.

Before the broker leases and the hardened QoS in ``mediabao/celery.py``: the worker often
stopped with ``AttributeError: 'NoneType' object has no attribute 'hostname'`` (killing
the running task), and the countdown task, dropped by the worker on the reconnect, stayed
in kombu's ``unacked`` hash until the visibility timeout (3600 s) had passed. Now: the
worker stays up, the long task runs once (its lease is renewed, so it is not delivered a
second time although it outlives the visibility timeout) and is acknowledged, and the
dropped task comes back within the visibility timeout plus one restore sweep and runs once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from celery import shared_task

from mediabao.embedded import free_port, stop_pid

pytestmark = [pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[1]
TASK = "tests.broker_restart.hold"
STARTS, DONES = "brtest:start", "brtest:done"
VISIBILITY = 30


@shared_task(name=TASK, acks_late=True)
def hold(tag: str, seconds: float) -> str:
    """Runs in the worker subprocess: records its start and end in the broker's Redis."""
    r = redis.Redis.from_url(os.environ["REDIS_URL"])
    r.rpush(STARTS, f"{tag} {time.time():.1f} {os.getpid()}")
    time.sleep(seconds)
    redis.Redis.from_url(os.environ["REDIS_URL"]).rpush(DONES, f"{tag} {time.time():.1f}")
    return tag


def _redis_server(port: int, folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "yes", "--dir", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            return proc
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    stop_pid(proc.pid, timeout=15)  # SIGTERM first: Redis flushes its AOF
    proc.wait(5)


def _entries(r: redis.Redis, key: str) -> list[list[str]]:
    return [item.decode().split() for item in r.lrange(key, 0, -1)]


def _wait(what: str, ready, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.5)


def test_worker_survives_a_redis_restart_and_nothing_waits_for_an_hour(tmp_path):
    from cryptography.fernet import Fernet

    from mediabao.celery import app

    port, queue = free_port(), "brtest"
    url = f"redis://127.0.0.1:{port}/0"
    server = _redis_server(port, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIABAO_", "CELERY_", "WECHAT_"))}
    env.update(REDIS_URL=url, DATABASE_URL="postgres://nobody@127.0.0.1:1/none",  # no task here needs it
               MEDIABAO_DATA_DIR=str(tmp_path / "data"), MEDIABAO_TASK_QUEUE=queue,
               MEDIABAO_BROKER_VISIBILITY_TIMEOUT=str(VISIBILITY), SECRET_KEY="x" * 50,
               FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(), PYTHONUNBUFFERED="1",
               PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="mediabao.settings")
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log_file:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mediabao", "worker", "-l", "INFO", "-c", "2",
             "-Q", queue, "-n", f"brtest-{port}@localhost", "--without-mingle", "--without-gossip",
             "-I", "tests.test_broker_restart"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    r = redis.Redis.from_url(url)
    try:
        _wait("worker heartbeat", lambda: worker.poll() is None and any(
            b"worker-heartbeat" in key for key in r.keys("*")), 90)
        with app.connection_for_write(url) as conn:
            app.send_task(TASK, args=["long", VISIBILITY + 10], queue=queue, connection=conn)
            app.send_task(TASK, args=["later", 1], queue=queue, connection=conn, countdown=10)
        _wait("the long task's start", lambda: len(_entries(r, STARTS)) >= 1, 60)
        _wait("both messages held", lambda: r.hlen("unacked") >= 2, 30)
        time.sleep(2)

        _stop(server)  # SIGTERM: AOF flushed, the unacked hash survives
        time.sleep(1.5)
        restarted = time.time()
        server = _redis_server(port, tmp_path)

        _wait("both tasks done", lambda: len(_entries(r, DONES)) >= 2, VISIBILITY + 90)
        time.sleep(3)  # a second delivery of either would show up here
        starts, dones = _entries(r, STARTS), _entries(r, DONES)
        log = log_path.read_text(errors="replace")
        assert worker.poll() is None, f"the worker exited ({worker.returncode}):\n{log[-6000:]}"
        assert "Unrecoverable error" not in log, log[-6000:]
        assert sorted(s[0] for s in starts) == ["later", "long"], (starts, log[-6000:])
        assert sorted(d[0] for d in dones) == ["later", "long"], dones
        later_done = float(next(d[1] for d in dones if d[0] == "later"))
        # Back within the visibility timeout plus a restore sweep (10 s), not an hour.
        assert later_done - restarted < VISIBILITY + 30, (later_done - restarted, log[-6000:])
        _wait("nothing left unacknowledged", lambda: r.hlen("unacked") == 0, 15)
        assert r.llen(queue) == 0
    finally:
        _stop(worker)
        _stop(server)


@pytest.fixture
def broker(tmp_path):
    """A Redis server of its own, as a client; stopped afterwards."""
    port = free_port()
    server = _redis_server(port, tmp_path)
    try:
        yield redis.Redis(port=port)
    finally:
        _stop(server)


def test_lease_renewal_touches_only_messages_still_unacknowledged(broker):
    from mediabao.celery import renew_leases

    r = broker
    r.zadd("unacked_index", {"held": 100.0, "other": 100.0})
    assert renew_leases(r, "unacked_index", ["held", "acked-meanwhile"], now=500.0) == 1
    assert r.zscore("unacked_index", "held") == 500.0
    assert r.zscore("unacked_index", "other") == 100.0  # another worker's: its own lease
    assert r.zscore("unacked_index", "acked-meanwhile") is None  # not brought back
    assert renew_leases(r, "unacked_index", []) == 0


def test_deferred_acknowledgements_are_sent_once_the_broker_is_back(broker):
    from mediabao.celery import _pending_acks, defer_ack, flush_pending_acks

    r = broker
    r.zadd("unacked_index", {"done": 100.0, "running": 100.0})
    r.hset("unacked", mapping={"done": "{}", "running": "{}"})
    defer_ack("unacked_index", "unacked", "done")
    assert flush_pending_acks(r) == 1
    assert r.zscore("unacked_index", "done") is None and not r.hexists("unacked", "done")
    assert r.zscore("unacked_index", "running") == 100.0 and r.hexists("unacked", "running")
    assert not _pending_acks and flush_pending_acks(r) == 0
