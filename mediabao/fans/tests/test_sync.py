"""Follower sync against wxsim: pages of 10,000, profiles by 100, resumable, incremental."""

from __future__ import annotations

import pytest
from django.utils import timezone

from mediabao.fans import services
from mediabao.fans.models import Fan, FanSync

pytestmark = pytest.mark.django_db


def test_full_sync_pages_and_profiles(account, sim, sim_account):
    openids = sim.create_fans(sim_account["appid"], count=12_345)
    sync, created = services.start_sync(account)
    assert created
    sync = services.run_sync(sync.pk)
    assert sync.state == FanSync.State.DONE, sync.error
    assert sync.fetched == 12_345 and sync.total == 12_345 and sync.percent == 100
    assert Fan.objects.filter(account=account, subscribed=True).count() == 12_345
    fan = Fan.objects.get(account=account, openid=openids[0])
    assert fan.subscribe_time is not None and fan.unionid
    calls = sim.counters()
    user_get = sum(v for k, v in _flatten(calls).items() if "user/get" in k)
    assert user_get >= 2  # two pages (10,000 + 2,345)


def test_second_sync_marks_fans_who_left(account, sim, sim_account):
    openids = sim.create_fans(sim_account["appid"], count=30)
    services.run_sync(services.start_sync(account)[0].pk)
    sim.fan_unsubscribe(sim_account["appid"], openids[0])
    # an event the platform got while the next sync runs keeps its fan current
    services.record_subscribe(account, "o-new-during-sync", timezone.now())
    second = services.run_sync(services.start_sync(account)[0].pk)
    assert second.state == FanSync.State.DONE
    assert not Fan.objects.get(account=account, openid=openids[0]).subscribed
    assert Fan.objects.get(account=account, openid=openids[1]).subscribed


def test_a_second_start_joins_the_running_sync(account):
    first, created = services.start_sync(account)
    again, created_again = services.start_sync(account)
    assert created and not created_again and again.pk == first.pk


def test_a_failed_sync_resumes_from_its_cursor(account, sim, sim_account):
    sim.create_fans(sim_account["appid"], count=10_050)
    sim.set_fault("user/info/batchget", errcode=40003, error_rate=1.0, remaining=1)
    sync = services.run_sync(services.start_sync(account)[0].pk)
    assert sync.state == FanSync.State.FAILED and sync.error
    resumed, created = services.start_sync(account)
    assert created and resumed.pk == sync.pk
    done = services.run_sync(resumed.pk)
    assert done.state == FanSync.State.DONE
    assert Fan.objects.filter(account=account).count() == 10_050


def _flatten(data, prefix=""):
    out = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}/{key}"))
    elif isinstance(data, (int, float)):
        out[prefix] = data
    return out
