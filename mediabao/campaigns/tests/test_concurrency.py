"""Exact counts under concurrency: real threads, real transactions, one database."""

from __future__ import annotations

import contextlib
import random
import threading

import pytest
from django.db import close_old_connections, connection, transaction

from mediabao.campaigns import services
from mediabao.campaigns.models import Assist, AwardTier, Notice, Participant, RewardClaim

pytestmark = pytest.mark.django_db(transaction=True)


def _run_all(calls, workers=16):
    """Run ``record_assist`` for every call on ``workers`` threads that start together;
    each thread has its own connection (closed when it is done)."""
    results: list[str | None] = [None] * len(calls)
    barrier = threading.Barrier(workers)

    def worker(offset: int) -> None:
        try:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=10)
            for index in range(offset, len(calls), workers):
                account, openid, scene = calls[index]
                with transaction.atomic():
                    results[index] = services.record_assist(account, openid, scene, new_fan=True).reason
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    close_old_connections()
    return results


def test_50_fans_each_delivered_3_times_count_exactly_once(make_activity, acct):
    activity = make_activity(tiers=((10, "贴纸", 3), (30, "杯子", 1), (50, "耳机", None)))
    inviter = services.join(activity, acct, "seed", nickname="种子")
    fans = [f"fan{n:03d}" for n in range(50)]
    calls = [(acct, fan, inviter.scene) for fan in fans for _ in range(3)]
    random.Random(7).shuffle(calls)
    results = _run_all(calls)
    assert results.count("counted") == 50 and results.count("duplicate") == 100
    inviter.refresh_from_db()
    assert inviter.invites == 50 and inviter.tiers_completed == 3
    assert Assist.objects.filter(activity=activity).count() == 50
    assert Participant.objects.filter(activity=activity, joined=False, level=2).count() == 50
    assert Notice.objects.filter(participant=inviter, key__startswith="assist:").count() == 50
    assert Notice.objects.filter(participant=inviter, key__startswith="tier:").count() == 3
    assert RewardClaim.objects.filter(participant=inviter).count() == 3
    assert list(AwardTier.objects.filter(activity=activity).order_by("level")
                .values_list("remaining", flat=True)) == [2, 0, None]


def test_stock_never_goes_below_zero_with_many_inviters(make_activity, acct):
    activity = make_activity(tiers=((1, "限量徽章", 7),))
    inviters = [services.join(activity, acct, f"seed{n}") for n in range(20)]
    calls = [(acct, f"friend{n}", p.scene) for n, p in enumerate(inviters)]
    # the same fans through other posters
    calls += [(acct, f"friend{n}", inviters[(n + 1) % 20].scene) for n in range(20)]
    results = _run_all(calls)
    assert results.count("counted") == 20
    assert AwardTier.objects.get(activity=activity).remaining == 0
    assert RewardClaim.objects.filter(tier__activity=activity).count() == 7
    assert sum(Participant.objects.filter(activity=activity, joined=True)
               .values_list("invites", flat=True)) == 20
    # a fan may reach either of two posters first, so some inviters have 2 and some 0
    reached = Participant.objects.filter(activity=activity, joined=True, invites__gte=1)
    assert all(p.tiers_completed == 1 for p in reached)
    out_of_stock = Notice.objects.filter(key__startswith="tier:", text__contains="已发完")
    assert out_of_stock.count() == reached.count() - 7
    assert Notice.objects.filter(key__startswith="tier:").count() == reached.count()


def test_1000_fans_scan_one_poster_each_delivered_3_times(make_activity, acct):
    """The issue's reliability case on the service path: 3,000 concurrent calls for 1,000
    distinct fans; tier stock of 1 is taken once; one notice per counted assist."""
    activity = make_activity(tiers=((500, "大奖", 1), (1000, "特等奖", 1)))
    inviter = services.join(activity, acct, "seed")
    calls = [(acct, f"fan{n:04d}", inviter.scene) for n in range(1000) for _ in range(3)]
    random.Random(11).shuffle(calls)
    results = _run_all(calls, workers=24)
    assert results.count("counted") == 1000
    inviter.refresh_from_db()
    assert inviter.invites == 1000 and inviter.tiers_completed == 2
    assert Assist.objects.filter(activity=activity).count() == 1000
    assert Notice.objects.filter(participant=inviter, key__startswith="assist:").count() == 1000
    assert list(AwardTier.objects.filter(activity=activity).values_list("remaining", flat=True)) == [0, 0]
    assert RewardClaim.objects.filter(participant=inviter).count() == 2
