"""Production headers and cookies, ``check --deploy``, and the API's rate limits.

The production checks run in a subprocess with the environment of
``deploy/env.example`` (MEDIABAO_PRODUCTION=1, DEBUG off, behind the proxy), against the
test database, inside a transaction that is rolled back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from mediabao.accounts import services as accounts

ROOT = Path(__file__).resolve().parents[2]
HOST = "mediabao.example.com"

SCRIPT = r"""
import json, django
django.setup()
from django.db import transaction
from django.test import Client
from mediabao.accounts import services

HOST = "mediabao.example.com"


def dump(response):
    return {"status": response.status_code, "headers": dict(response.headers),
            "cookies": {name: {"secure": bool(m["secure"]), "httponly": bool(m["httponly"]),
                               "samesite": m["samesite"]} for name, m in response.cookies.items()}}

out = {}
with transaction.atomic():
    services.sign_up(username="prod-headers", password="Corr3ct-Horse-Battery", team_name="t")
    client = Client(HTTP_HOST=HOST, HTTP_X_FORWARDED_PROTO="https")
    out["login"] = dump(client.post("/accounts/login/", {"username": "prod-headers",
                                                         "password": "Corr3ct-Horse-Battery"}))
    out["api"] = dump(client.get("/api/v1/me/"))
    out["plain_http"] = dump(Client(HTTP_HOST=HOST).get("/api/v1/me/"))
    transaction.set_rollback(True)
print("RESULT " + json.dumps(out))
"""


def production_env(**extra: str) -> dict[str, str]:
    """deploy/env.example's settings, with real keys, the test run's servers and data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "mediabao.settings", "MEDIABAO_PRODUCTION": "1", "DEBUG": "0",
        "SECRET_KEY": "prod-" + "k" * 20 + os.urandom(24).hex(),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "ALLOWED_HOSTS": HOST,
        "PUBLIC_BASE_URL": f"https://{HOST}", "MEDIABAO_BEHIND_PROXY": "1", "WXSIM_ENABLED": "0",
        "WECHAT_API_BASE": "https://api.weixin.qq.com", "MEDIABAO_LOG_LEVEL": "WARNING",
    })
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=240)


_production: dict = {}


@pytest.fixture
def production(db, tmp_path) -> dict:
    """What a production web process answers (computed once per run)."""
    if _production:
        return _production
    url = urlsplit(os.environ["DATABASE_URL"])
    test_db = urlunsplit(url._replace(path="/" + connection.settings_dict["NAME"]))
    done = run(["-c", SCRIPT], production_env(DATABASE_URL=test_db, MEDIABAO_DATA_DIR=str(tmp_path)))
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    _production.update(json.loads(lines[-1][len("RESULT "):]))
    return _production


def test_production_security_headers(production):
    api = production["api"]
    assert api["status"] == 200
    headers = api["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[-1].split(";")[0]
    # over plain HTTP (the proxy did not say https) there is no HSTS header
    assert "Strict-Transport-Security" not in production["plain_http"]["headers"]


def test_production_cookies_are_secure_httponly_samesite(production):
    login = production["login"]
    assert login["status"] == 302
    session, csrf = login["cookies"]["sessionid"], login["cookies"]["csrftoken"]
    assert session == {"secure": True, "httponly": True, "samesite": "Lax"}
    assert csrf["secure"] is True and csrf["samesite"] == "Lax"


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = production_env(DATABASE_URL="postgres://u:p@db.internal:5432/mediabao",
                         REDIS_URL="redis://redis.internal:6379/0", MEDIABAO_DATA_DIR=str(tmp_path))
    done = run(["-m", "django", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues (0 silenced)" in done.stdout or "no issues" in done.stdout
    # without the proxy nothing redirects to HTTPS: that warning is not hidden
    env.update(MEDIABAO_BEHIND_PROXY="0")
    done = run(["-m", "django", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert done.returncode != 0 and "security.W008" in done.stderr + done.stdout


# --- rate limits -----------------------------------------------------------------------------
def _api(user, team) -> APIClient:
    client = APIClient()
    key = accounts.create_api_token(user=user, team=team, name="x").key
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.mark.django_db
def test_api_rate_limit_answers_429_in_the_error_format(owner, team_a, make_user, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min"})
    client = _api(owner, team_a)
    assert [client.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 200]
    limited = client.get("/api/v1/me/")
    assert limited.status_code == 429
    body = limited.json()
    assert body["code"] == "throttled" and body["message"] and body["request_id"]
    assert 0 < int(limited["Retry-After"]) <= 60
    other = make_user("carol")
    # per user: others are not affected
    assert _api(other, other.current_team).get("/api/v1/me/").status_code == 200


@pytest.mark.django_db
def test_anonymous_api_calls_are_throttled_per_address(client, monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "2/min"})
    schema = "/api/schema/"
    assert client.get(schema, HTTP_ACCEPT="application/json").status_code == 200
    # a client-sent X-Forwarded-For does not make a new address
    spoofed = client.get(schema, HTTP_ACCEPT="application/json", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert spoofed.status_code == 200
    limited = client.get(schema, HTTP_ACCEPT="application/json", HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert limited.status_code == 429
    assert limited.json()["code"] == "throttled" and int(limited["Retry-After"]) > 0
    assert client.get(schema, HTTP_ACCEPT="application/json", REMOTE_ADDR="203.0.113.9").status_code == 200
