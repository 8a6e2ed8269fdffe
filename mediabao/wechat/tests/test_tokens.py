"""The shared token store: one fetch however many threads or processes ask at once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings

from mediabao.wechat.errors import InvalidAppSecret
from mediabao.wechat.tokens import Credentials, TokenStore, credentials_for, token_store

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]


def token_calls(sim) -> int:
    return sim.counters().get("token", {}).get("total", 0)


def test_sixteen_threads_at_once_cause_one_fetch(sim, account):
    credentials = credentials_for(account)
    barrier = threading.Barrier(16)
    results, failures = [], []

    def worker():
        barrier.wait()
        try:
            results.append(token_store().get(credentials))
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures
    assert len(results) == 16 and len(set(results)) == 1
    assert token_calls(sim) == 1


SCRIPT = """
import os, sys
import django
django.setup()
from mediabao.wechat.tokens import Credentials, token_store
print("ready", flush=True)
sys.stdin.readline()
print(token_store().get(Credentials(sys.argv[1], sys.argv[2])), flush=True)
"""


def test_eight_processes_at_once_cause_one_fetch(sim, wxsim, account):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mediabao.settings",
           "DATABASE_URL": settings.DATABASE_URL, "REDIS_URL": settings.REDIS_URL,
           "WECHAT_API_BASE": wxsim.base_url, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, account.appid, account.appsecret],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                              cwd=ROOT) for _ in range(8)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        tokens = {p.communicate(timeout=60)[0].strip() for p in procs}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs)
    assert len(tokens) == 1 and tokens != {""}
    assert token_calls(sim) == 1


def test_a_failed_token_is_replaced_only_if_still_stored(sim, account):
    store = token_store()
    credentials = credentials_for(account)
    first = store.get(credentials)
    second = store.get(credentials, failed_token=first)
    assert second != first and token_calls(sim) == 2
    # A caller still holding the first token fails too: it gets the newer one, no new fetch.
    assert store.get(credentials, failed_token=first) == second
    assert token_calls(sim) == 2


def test_token_is_refreshed_ahead_of_expiry(sim, account):
    store = TokenStore(refresh_ahead=600)
    credentials = credentials_for(account)
    first = store.get(credentials)
    store.put(account.appid, first, time.time() + 300)  # inside the margin
    second = store.get(credentials)
    assert second != first and token_calls(sim) == 2
    assert store.get(credentials) == second and token_calls(sim) == 2


def test_refresh_inside_margin_falls_back_to_the_current_token_when_wechat_is_down(
        sim, account, settings):
    store = TokenStore(refresh_ahead=600)
    store.put(account.appid, "still-valid-token", time.time() + 300)
    settings.WECHAT_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    settings.WECHAT_HTTP_TIMEOUT = 0.5
    assert store.get(credentials_for(account)) == "still-valid-token"


def test_wrong_secret_raises_the_typed_error(sim, account):
    with pytest.raises(InvalidAppSecret):
        token_store().get(Credentials(account.appid, "wrong"))
