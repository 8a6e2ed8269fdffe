"""Gateway fixtures: wxsim on a free loopback port, accounts known to both sides."""

from __future__ import annotations

import pytest

# The simulator fixtures live in the shared test plugin; re-exported here because other
# apps' conftests import them from this module.
from mediabao.testing.fixtures import _wxsim, sim, wxsim  # noqa: E402,F401
from mediabao.wechat.models import OfficialAccount
from mediabao.wechat.registry import registry


@pytest.fixture
def sim_account(sim):  # noqa: F811 - the shared fixture
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
        def on(self, *kinds, priority=100, when=None, replies=True):
            def deco(func):
                registry.on(*kinds, priority=priority, when=when, replies=replies)(func)
                added.append(func)
                return func
            return deco

    yield _Handlers()
    for func in added:
        registry.unregister(func)
