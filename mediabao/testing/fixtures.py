"""Shared pytest fixtures: users, teams, API clients, a clean cache per test."""

from __future__ import annotations

import itertools

import pytest
from rest_framework.test import APIClient

from mediabao.accounts import services
from mediabao.accounts.models import Role, User

_counter = itertools.count(1)
PASSWORD = "Corr3ct-Horse-Battery"


@pytest.fixture(autouse=True)
def _clean_cache(request):
    """Each test starts with empty Redis keys of the test prefix (throttles, tokens, dedup)
    and no account kept by the callback view."""
    if "django_db_setup" not in request.fixturenames and not request.node.get_closest_marker(
        "django_db"
    ):
        yield
        return
    import redis
    from django.conf import settings

    # Only this run's keys (Django's cache and the gateway's raw keys share the prefix):
    # a FLUSHDB would wipe the keys of a parallel test worker or a dev instance.
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=5000))
        for start in range(0, len(keys), 5000):
            client.delete(*keys[start:start + 5000])
    finally:
        client.close()
    from mediabao.wechat.selectors import forget_callback_account

    forget_callback_account()  # accounts kept by an earlier test's callbacks (ids get reused)
    yield


@pytest.fixture(autouse=True)
def _settle_assists_at_once(request, monkeypatch):
    """Tests inside a rolled-back transaction never commit, so the assist settling that
    runs after commit (``campaigns.services.settle_after_commit``) runs at once instead,
    as ``captureOnCommitCallbacks(execute=True)`` would; transactional tests keep the
    real after-commit behaviour."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or marker.kwargs.get("transaction") or (marker.args and marker.args[0]):
        yield
        return
    from mediabao.campaigns import services as campaigns

    monkeypatch.setattr(campaigns, "settle_after_commit", campaigns.settle)
    yield


@pytest.fixture(autouse=True)
def _process_events_now(monkeypatch):
    """Events the gateway answers before handling (``wechat.processing``) are handled in
    the request here, so a test sees their effects when the callback returns; the
    processes of end-to-end tests keep the web process's thread."""
    from django.conf import settings

    monkeypatch.setattr(settings, "WECHAT_PROCESS_EVENTS", "now", raising=False)
    yield


@pytest.fixture
def make_user(db):
    def _make(username: str | None = None, team_name: str | None = None) -> User:
        name = username or f"user{next(_counter)}"
        return services.sign_up(username=name, password=PASSWORD, team_name=team_name or f"{name} team")

    return _make


@pytest.fixture
def owner(make_user) -> User:
    return make_user("alice", "Team A")


@pytest.fixture
def team_a(owner):
    return owner.current_team


@pytest.fixture
def other_owner(make_user) -> User:
    return make_user("bob", "Team B")


@pytest.fixture
def team_b(other_owner):
    return other_owner.current_team


@pytest.fixture
def member_of(db):
    def _add(user: User, team, role: str = Role.MEMBER) -> None:
        from mediabao.accounts.models import Membership

        Membership.objects.create(user=user, team=team, role=role)

    return _add


@pytest.fixture
def api_token(owner, team_a) -> str:
    return services.create_api_token(user=owner, team=team_a, name="script").key


@pytest.fixture
def api(api_token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token}")
    return client


@pytest.fixture
def console(client, owner):
    client.force_login(owner)
    return client


# --- the WeChat simulator ----------------------------------------------------------------
@pytest.fixture(scope="session")
def _wxsim():
    from wxsim.testing import run_wxsim

    with run_wxsim() as running:
        yield running


@pytest.fixture
def wxsim(_wxsim, settings):
    """A clean simulator that the platform's WECHAT_* hosts point at; quick retries."""
    from mediabao.wechat.tokens import token_store

    _wxsim.client.reset()
    _wxsim.client.set_push(timeout=5, retries=3)
    settings.WECHAT_API_BASE = settings.WECHAT_MP_BASE = settings.WECHAT_OPEN_BASE = _wxsim.base_url
    settings.WECHAT_RETRY_BASE_SECONDS = 0.01
    settings.WECHAT_RETRY_CAP_SECONDS = 0.05
    token_store.cache_clear()
    yield _wxsim
    _wxsim.client.clear_faults()
    token_store.cache_clear()


@pytest.fixture
def sim(wxsim):
    """wxsim's control client (accounts, fans, inboxes, faults, clock)."""
    return wxsim.client
