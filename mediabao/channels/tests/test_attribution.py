"""Creating codes in wxsim, attributing follows through the gateway, the budget, the rules."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from mediabao.channels import selectors, services
from mediabao.channels.models import Channel, ChannelFollow, ChannelScan
from mediabao.fans.models import Fan

pytestmark = pytest.mark.django_db


def _unix(day: date, hour: int = 12) -> int:
    """A WeChat CreateTime at ``hour`` local time of ``day``."""
    return int(timezone.make_aware(datetime(day.year, day.month, day.day, hour)).timestamp())


TODAY = date(2026, 11, 20)


# --- creating the permanent code --------------------------------------------------------
def test_creating_a_channel_creates_a_permanent_code_in_wechat(sim, account, channel):
    assert channel.scene_str.startswith("ch_") and 4 <= len(channel.scene_str) <= 64
    codes = sim._call("GET", f"/accounts/{account.appid}/qrcodes")
    code = next(q for q in codes["qrcodes"] if q["ticket"] == channel.ticket)
    assert code["action_name"] == "QR_LIMIT_STR_SCENE" and code["scene_str"] == channel.scene_str
    assert code["expire_at"] is None and code["url"] == channel.url
    assert channel.team_id == account.team_id and channel.created_by.username == "alice"


def test_scenes_are_unique_and_never_look_like_campaign_scenes(account):
    scenes = {services.new_scene() for _ in range(500)}
    assert len(scenes) == 500
    assert all(s.startswith("ch_") and not s.startswith("ac_") and len(s) == 13 for s in scenes)


def test_the_local_budget_refuses_before_calling_wechat(sim, account, settings):
    settings.CHANNELS_PERMANENT_QR_CAP = 2
    services.create_channel(account=account, name="一")
    services.create_channel(account=account, name="二")
    assert services.budget(account) == {"used": 2, "cap": 2, "remaining": 0}
    calls = len(sim.calls(appid=account.appid, endpoint="qrcode/create"))
    with pytest.raises(services.BudgetExhausted) as exc:
        services.create_channel(account=account, name="三")
    assert "2" in exc.value.message and exc.value.field == "account"
    assert len(sim.calls(appid=account.appid, endpoint="qrcode/create")) == calls
    assert Channel.objects.filter(account=account).count() == 2


def test_archived_channels_still_use_the_budget(account, channel, settings):
    settings.CHANNELS_PERMANENT_QR_CAP = 1
    services.set_archived(channel, True)
    with pytest.raises(services.BudgetExhausted):
        services.create_channel(account=account, name="再来一个")


def test_wechats_own_cap_is_reported_as_an_exhausted_budget(sim, account):
    sim.update_account(account.appid, qr_permanent_cap=1)
    services.create_channel(account=account, name="一")
    with pytest.raises(services.BudgetExhausted) as exc:
        services.create_channel(account=account, name="二")
    assert account.name in exc.value.message and exc.value.field == "account"
    assert Channel.objects.filter(account=account).count() == 1


def test_a_wechat_failure_leaves_no_channel(sim, account):
    sim.update_account(account.appid, verified=False)  # qrcode/create needs a verified account
    with pytest.raises(services.ChannelError) as exc:
        services.create_channel(account=account, name="不行")
    assert not isinstance(exc.value, services.BudgetExhausted)
    assert Channel.objects.count() == 0


# --- attribution through the gateway ---------------------------------------------------
def test_a_follow_through_the_code_is_attributed(push, account, channel):
    push(account, "o-new", "subscribe", f"qrscene_{channel.scene_str}", _unix(TODAY))
    fan = Fan.objects.get(account=account, openid="o-new")
    assert fan.subscribed and fan.source == Fan.Source.CHANNEL and fan.source_ref == str(channel.pk)
    row = ChannelFollow.objects.get()
    assert (row.channel_id, row.openid, row.follow_day) == (channel.pk, "o-new", TODAY)
    assert row.unfollowed_at is None
    assert row.team_id == account.team_id


def test_a_retried_push_counts_once(push, account, channel):
    message = push(account, "o-1", "subscribe", f"qrscene_{channel.scene_str}", _unix(TODAY))
    push(account, "o-1", "subscribe", message=message)
    services.record_follow(channel, "o-1", datetime.fromtimestamp(int(message["CreateTime"]), tz=UTC))
    assert ChannelFollow.objects.count() == 1


def test_the_service_itself_is_idempotent(account, channel):
    at = timezone.make_aware(datetime(2026, 11, 20, 9))
    for _ in range(3):
        services.record_follow(channel, "o-2", at)
    assert ChannelFollow.objects.count() == 1
    for _ in range(2):
        services.record_unfollow(account, "o-2", at + timedelta(hours=1))
    row = ChannelFollow.objects.get()
    assert row.unfollowed_at == at + timedelta(hours=1)


def test_unfollow_is_counted_and_the_day_stats_are_exact(push, account, channel):
    key = f"qrscene_{channel.scene_str}"
    push(account, "o-a", "subscribe", key, _unix(TODAY, 9))
    push(account, "o-b", "subscribe", key, _unix(TODAY, 10))
    push(account, "o-c", "subscribe", key, _unix(TODAY + timedelta(days=1), 10))
    push(account, "o-a", "unsubscribe", at=_unix(TODAY + timedelta(days=1), 11))
    st = selectors.stats(channel, TODAY - timedelta(days=1), TODAY + timedelta(days=2))
    by_day = {d.day: (d.new, d.unfollowed, d.net, d.retained) for d in st.days}
    assert by_day == {
        TODAY - timedelta(days=1): (0, 0, 0, 0),
        TODAY: (2, 0, 2, 1),
        TODAY + timedelta(days=1): (1, 1, 0, 1),
        TODAY + timedelta(days=2): (0, 0, 0, 0),
    }
    assert (st.totals.new, st.totals.unfollowed, st.totals.net) == (3, 1, 2)
    counts = selectors.counts_for([channel.pk])[channel.pk]
    assert (counts.new, counts.following, counts.unfollowed) == (3, 2, 1)
    assert not Fan.objects.get(openid="o-a").subscribed


def test_refollow_on_the_same_day_is_one_new_fan_and_on_a_later_day_another(push, account, channel):
    key = f"qrscene_{channel.scene_str}"
    push(account, "o-r", "subscribe", key, _unix(TODAY, 9))
    push(account, "o-r", "unsubscribe", at=_unix(TODAY, 10))
    push(account, "o-r", "subscribe", key, _unix(TODAY, 11))
    st = selectors.stats(channel, TODAY, TODAY)
    assert (st.totals.new, st.totals.unfollowed, st.totals.retained) == (1, 0, 1)
    push(account, "o-r", "unsubscribe", at=_unix(TODAY, 12))
    push(account, "o-r", "subscribe", key, _unix(TODAY + timedelta(days=2), 9))
    st = selectors.stats(channel, TODAY, TODAY + timedelta(days=2))
    assert [(d.new, d.unfollowed) for d in st.days] == [(1, 1), (0, 0), (1, 0)]
    counts = selectors.counts_for([channel.pk])[channel.pk]
    assert (counts.new, counts.following, counts.unfollowed) == (2, 1, 1)


def test_a_late_retry_does_not_reopen_an_unfollowed_row(account, channel):
    t = timezone.make_aware(datetime(2026, 11, 20, 9))
    services.record_follow(channel, "o-l", t)
    services.record_unfollow(account, "o-l", t + timedelta(minutes=5))
    assert services.record_follow(channel, "o-l", t) is None
    assert ChannelFollow.objects.get().unfollowed_at == t + timedelta(minutes=5)


def test_a_plain_follow_closes_a_row_whose_unsubscribe_was_missed(push, account, channel):
    push(account, "o-m", "subscribe", f"qrscene_{channel.scene_str}", _unix(TODAY, 9))
    push(account, "o-m", "subscribe", "", _unix(TODAY + timedelta(days=1), 9))  # unsubscribe lost
    row = ChannelFollow.objects.get()
    assert row.unfollow_day == TODAY + timedelta(days=1)


def test_following_through_a_second_channel_moves_the_fan(push, account, channel, owner):
    other = services.create_channel(account=account, name="地铁广告")
    push(account, "o-x", "subscribe", f"qrscene_{channel.scene_str}", _unix(TODAY, 9))
    push(account, "o-x", "unsubscribe", at=_unix(TODAY, 10))
    push(account, "o-x", "subscribe", f"qrscene_{other.scene_str}", _unix(TODAY, 11))
    fan = Fan.objects.get(openid="o-x")
    assert fan.source_ref == str(other.pk)
    assert ChannelFollow.objects.filter(unfollowed_at__isnull=True).get().channel_id == other.pk


def test_a_scan_by_a_follower_is_a_scan_not_a_new_fan(push, account, channel):
    push(account, "o-s", "subscribe", "", _unix(TODAY, 8))
    push(account, "o-s", "SCAN", channel.scene_str, _unix(TODAY, 9))
    fan = Fan.objects.get(openid="o-s")
    assert fan.source == Fan.Source.OTHER
    assert ChannelFollow.objects.count() == 0
    assert ChannelScan.objects.get().channel_id == channel.pk
    assert selectors.stats(channel, TODAY, TODAY).totals.scans == 1


@pytest.mark.parametrize("scene", ["ch_unknown000", "ch_", "ch_" + "x" * 80, "garbage", "ac_1_2", "123"])
def test_forged_or_unknown_scenes_are_ignored(push, account, channel, scene, caplog):
    caplog.set_level(logging.WARNING, logger="mediabao.channels.wechat_handlers")
    push(account, "o-f", "subscribe", f"qrscene_{scene}", _unix(TODAY))
    fan = Fan.objects.get(openid="o-f")
    assert fan.source == Fan.Source.OTHER and fan.source_ref == ""
    assert ChannelFollow.objects.count() == 0
    if scene.startswith("ch_"):
        assert "unknown channel scene" in caplog.text


def test_another_teams_channel_scene_is_ignored(push, account, other_account, caplog):
    foreign = services.create_channel(account=other_account, name="别人的码")
    caplog.set_level(logging.WARNING, logger="mediabao.channels.wechat_handlers")
    push(account, "o-t", "subscribe", f"qrscene_{foreign.scene_str}", _unix(TODAY))
    assert Fan.objects.get(account=account, openid="o-t").source == Fan.Source.OTHER
    assert ChannelFollow.objects.count() == 0
    assert "unknown channel scene" in caplog.text


def test_archived_channels_keep_attributing(push, account, channel):
    services.set_archived(channel, True)
    push(account, "o-z", "subscribe", f"qrscene_{channel.scene_str}", _unix(TODAY))
    assert Fan.objects.get(openid="o-z").source_ref == str(channel.pk)


def test_breakdown_per_channel(push, account, channel, team_a):
    other = services.create_channel(account=account, name="地铁广告")
    push(account, "o-1", "subscribe", f"qrscene_{channel.scene_str}", _unix(TODAY))
    push(account, "o-2", "subscribe", f"qrscene_{other.scene_str}", _unix(TODAY))
    push(account, "o-3", "subscribe", f"qrscene_{other.scene_str}", _unix(TODAY))
    push(account, "o-3", "unsubscribe", at=_unix(TODAY, 13))
    rows = selectors.breakdown(team_a, TODAY, TODAY)
    assert rows == [{"channel": other.pk, "name": "地铁广告", "new": 2, "unfollowed": 1},
                    {"channel": channel.pk, "name": "门店海报", "new": 1, "unfollowed": 0}]


@pytest.mark.django_db(transaction=True)
def test_concurrent_pushes_of_one_fan_count_once(account, channel):
    """Eight deliveries of the same follow at once (WeChat retries racing): one row, one fan."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from mediabao.wechat import callbacks

    message = {"ToUserName": "gh_test", "FromUserName": "o-race", "CreateTime": str(_unix(TODAY)),
               "MsgType": "event", "Event": "subscribe", "EventKey": f"qrscene_{channel.scene_str}"}
    others = [dict(message, CreateTime=str(_unix(TODAY) + i)) for i in range(1, 4)]

    def deliver(msg):
        try:
            callbacks.ingest(account, msg)
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(deliver, [message] * 5 + others))
    assert ChannelFollow.objects.count() == 1
    assert Fan.objects.get(openid="o-race").source_ref == str(channel.pk)


def test_a_finished_follower_sync_closes_rows_of_fans_who_left_unseen(
        push, account, channel, django_capture_on_commit_callbacks):
    from mediabao.fans.models import FanSync

    push(account, "o-lost", "subscribe", f"qrscene_{channel.scene_str}", _unix(TODAY, 9))
    push(account, "o-kept", "subscribe", f"qrscene_{channel.scene_str}", _unix(TODAY, 9))
    gone_at = timezone.make_aware(datetime(2026, 11, 21, 8))
    Fan.objects.filter(openid="o-lost").update(subscribed=False, unsubscribe_time=gone_at)  # as a sync does
    with django_capture_on_commit_callbacks(execute=True):
        sync = FanSync.objects.create(team=account.team, account=account, generation=1)
        sync.state = FanSync.State.DONE
        sync.save()
    rows = {r.openid: r for r in ChannelFollow.objects.all()}
    assert rows["o-lost"].unfollowed_at == gone_at and rows["o-lost"].unfollow_day == date(2026, 11, 21)
    assert rows["o-kept"].unfollowed_at is None
    assert services.reconcile_unfollows(account.pk) == 0  # idempotent


def test_a_real_follower_sync_reconciles(sim, push, account, channel, django_capture_on_commit_callbacks):
    from mediabao.fans import services as fan_services

    openids = sim.create_fans(account.appid, 2)
    for openid in openids:
        push(account, openid, "subscribe", f"qrscene_{channel.scene_str}", _unix(TODAY, 9))
    sim.fan_unsubscribe(account.appid, openids[0])  # no server URL: the push never arrives
    assert ChannelFollow.objects.filter(unfollowed_at__isnull=True).count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        sync, _ = fan_services.start_sync(account)
        fan_services.run_sync(sync.pk)
    open_rows = ChannelFollow.objects.filter(unfollowed_at__isnull=True)
    assert list(open_rows.values_list("openid", flat=True)) == [openids[1]]
