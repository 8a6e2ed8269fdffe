"""Gateway fixtures: wxsim on a free loopback port, accounts known to both sides."""

from __future__ import annotations

import pytest

from mediabao.wechat.models import OfficialAccount
from mediabao.wechat.registry import registry
from mediabao.wechat.tokens import token_store
from wxsim.testing import run_wxsim


@pytest.fixture(scope="session")
def _wxsim():
    with run_wxsim() as running:
        yield running


@pytest.fixture
def wxsim(_wxsim, settings):
    """A clean simulator; the platform's WECHAT_API_BASE points at it, retries are quick."""
    _wxsim.client.reset()
    _wxsim.client.set_push(timeout=5, retries=3)
    settings.WECHAT_API_BASE = _wxsim.base_url
    settings.WECHAT_RETRY_BASE_SECONDS = 0.01
    settings.WECHAT_RETRY_CAP_SECONDS = 0.05
    token_store.cache_clear()
    yield _wxsim
    _wxsim.client.clear_faults()
    token_store.cache_clear()


@pytest.fixture
def sim(wxsim):
    return wxsim.client


@pytest.fixture
def sim_account(sim):
    """An account in wxsim (safe mode, no server URL yet)."""
    return sim.create_account(name="模拟号", encrypt_mode="safe")


@pytest.fixture
def account(team_a, sim_account) -> OfficialAccount:
    """The same account connected to team A in developer mode."""
    return OfficialAccount.objects.create(
        team=team_a, appid=sim_account["appid"], name=sim_account["name"],
        original_id=sim_account["original_id"], appsecret=sim_account["secret"],
        callback_token=sim_account["token"], encoding_aes_key=sim_account["encoding_aes_key"],
    )


@pytest.fixture
def handlers():
    """Register handlers for one test: ``handlers.on("text")(func)``; removed afterwards."""
    added = []

    class _Handlers:
        def on(self, *kinds, priority=100):
            def deco(func):
                registry.on(*kinds, priority=priority)(func)
                added.append(func)
                return func
            return deco

    yield _Handlers()
    for func in added:
        registry.unregister(func)
