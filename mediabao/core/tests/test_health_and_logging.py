"""/healthz reports each component; logs carry request ids and can be JSON lines."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.cache import cache

from mediabao.celery import HEARTBEAT_KEY
from mediabao.core.logging import RequestIdFilter, request_id_var

pytestmark = pytest.mark.django_db


def test_healthz_is_503_without_a_worker_heartbeat(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["components"]["database"]["status"] == "ok"
    assert body["components"]["redis"]["status"] == "ok"
    assert body["components"]["broker"]["status"] == "ok"
    assert body["components"]["worker"]["status"] == "down"


def test_healthz_is_ok_with_a_fresh_heartbeat_and_down_when_it_expires(client):
    import time

    cache.set("mediabao:workers", {"w1@host": time.time()}, timeout=None)
    cache.set(HEARTBEAT_KEY.format("w1@host"), "alive", timeout=30)
    assert client.get("/healthz").status_code == 200
    cache.delete(HEARTBEAT_KEY.format("w1@host"))
    assert client.get("/healthz").status_code == 503


def test_healthz_reports_redis_down(client, settings):
    from mediabao.embedded import free_port

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["components"]["redis"]["status"] == "down"


def test_json_log_lines_carry_the_request_id():
    from pythonjsonlogger.json import JsonFormatter

    formatter = JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s")
    record = logging.LogRecord("mediabao.test", logging.INFO, __file__, 1, "sent %s", ("x",), None)
    token = request_id_var.set("rid-42")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(formatter.format(record))
    assert line["request_id"] == "rid-42" and line["message"] == "sent x"


def test_log_format_setting_selects_json(monkeypatch):
    import subprocess
    import sys

    code = ("import django,logging;django.setup();"
            "logging.getLogger('mediabao.t').warning('hello')")
    env = {**__import__("os").environ, "MEDIABAO_LOG_FORMAT": "json"}
    from django.conf import settings

    env.update(DATABASE_URL=settings.DATABASE_URL, REDIS_URL=settings.REDIS_URL,
               DJANGO_SETTINGS_MODULE="mediabao.settings")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)
    line = [ln for ln in out.stderr.splitlines() if "hello" in ln][-1]
    assert json.loads(line)["message"] == "hello"


def test_livez_needs_no_worker(client):
    response = client.get("/livez")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_deploy_check_names_missing_production_settings(settings, monkeypatch):
    from mediabao.core.checks import production_settings

    settings.PRODUCTION = True
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgres://x/y")
    ids = [(w.id, w.msg.split()[0]) for w in production_settings(None)]
    assert ("mediabao.W002", "SECRET_KEY") in ids
    assert ("mediabao.W002", "DATABASE_URL") not in ids
