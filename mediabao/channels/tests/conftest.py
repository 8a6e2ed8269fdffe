"""Channels tests: wxsim accounts for two teams, pushes through the gateway's ingest."""

from __future__ import annotations

import itertools
import time

import pytest

from mediabao.channels import services
from mediabao.wechat import callbacks
from mediabao.wechat.models import OfficialAccount
from mediabao.wechat.tests.conftest import _wxsim, account, sim, sim_account, wxsim  # noqa: F401

_create_times = itertools.count(int(time.time()))


@pytest.fixture
def other_account(team_b, sim) -> OfficialAccount:  # noqa: F811 - the imported fixture
    """An account of team B, also in wxsim."""
    acct = sim.create_account(name="别家号", encrypt_mode="safe")
    return OfficialAccount.objects.create(
        team=team_b, appid=acct["appid"], name=acct["name"], original_id=acct["original_id"],
        appsecret=acct["secret"], callback_token=acct["token"],
        encoding_aes_key=acct["encoding_aes_key"])


@pytest.fixture
def channel(account, owner):  # noqa: F811 - the imported fixture
    return services.create_channel(account=account, name="门店海报", note="静安店", user=owner)


@pytest.fixture
def push():
    """Deliver an event to the platform as the callback view does (dedup, store, dispatch).

    ``push(account, openid, "subscribe", key="qrscene_ch_x", at=unix)``; returns the message
    so a test can deliver the very same push again (a WeChat retry).
    """

    def _push(acct: OfficialAccount, openid: str, event: str, key: str = "", at: int | None = None,
              message: dict | None = None) -> dict:
        if message is None:
            message = {"ToUserName": acct.original_id or "gh_test", "FromUserName": openid,
                       "CreateTime": str(at if at is not None else next(_create_times)),
                       "MsgType": "event", "Event": event}
            if key:
                message["EventKey"] = key
        callbacks.ingest(acct, message)
        return message

    return _push
