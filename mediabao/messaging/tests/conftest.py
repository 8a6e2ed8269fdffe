"""Messaging fixtures: wxsim (the gateway's fixtures), fans known to both sides, templates."""

from __future__ import annotations

import pytest

from mediabao.fans.models import Fan
from mediabao.messaging import services
from mediabao.wechat.tests.conftest import _wxsim, account, sim, sim_account, wxsim  # noqa: F401

LEGACY = "{{first.DATA}}\n订单号：{{keyword1.DATA}}\n状态：{{keyword2.DATA}}\n{{remark.DATA}}"
CATEGORY = "商品名称：{{thing1.DATA}}\n金额：{{amount2.DATA}}\n时间：{{time3.DATA}}"


def sim_fans(sim_thread, appid: str) -> list[str]:
    """Every openid of the simulated account, in creation order (white-box read)."""
    return list(sim_thread.sim.state.accounts[appid].fans.openids)


def inbox_counts(sim_thread, appid: str, channel: str | None = None) -> dict[str, int]:
    """openid -> messages received (the simulator's record is the ground truth)."""
    fans = sim_thread.sim.state.accounts[appid].fans
    out = {}
    for i, box in list(fans.inbox.items()):
        n = sum(1 for e in list(box) if channel is None or e.get("channel") == channel)
        if n:
            out[fans.openids[i]] = n
    return out


def make_fans(sim_thread, acct, count: int, **kw) -> list[str]:
    """``count`` fans in wxsim and in the platform's fan table."""
    appid = acct.appid
    before = len(sim_thread.sim.state.accounts[appid].fans.openids)
    sim_thread.client.create_fans(appid, count, **kw)
    openids = sim_fans(sim_thread, appid)[before:]
    Fan.objects.bulk_create([Fan(team_id=acct.team_id, account=acct, openid=o, subscribed=True)
                             for o in openids], batch_size=5000)
    return openids


@pytest.fixture
def no_launch(monkeypatch):
    """Keep jobs from being queued to Celery: the test runs the engine itself."""
    monkeypatch.setattr(services, "launch", lambda job_id, runners=None: None)


@pytest.fixture
def templates(request):
    acct = request.getfixturevalue("account")
    client = request.getfixturevalue("sim")
    client.create_template(acct.appid, "订单状态通知", LEGACY)
    client.create_template(acct.appid, "购买成功", CATEGORY)
    services.sync_templates(acct)
    from mediabao.messaging.models import Template

    return {t.kind: t for t in Template.objects.filter(account=acct)}
