"""Fan events keep the fan current; the interaction window follows WECHAT.md §5."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mediabao.fans import services
from mediabao.fans.models import Fan
from mediabao.fans.selectors import FanFilter, fans
from mediabao.wechat.models import OfficialAccount

pytestmark = pytest.mark.django_db


@pytest.fixture
def acct(team_a):
    return OfficialAccount.objects.create(team=team_a, appid="wxfans000000000001", name="粉丝号")


def test_subscribe_then_unsubscribe(acct):
    t0 = timezone.now().replace(microsecond=0)
    services.record_subscribe(acct, "o-1", t0, qr_scene="ch_42")
    fan = Fan.objects.get(account=acct, openid="o-1")
    assert fan.subscribed and fan.subscribe_time == t0 and fan.qr_scene == "ch_42"
    assert fan.team_id == acct.team_id
    services.record_unsubscribe(acct, "o-1", t0 + timedelta(hours=1))
    fan.refresh_from_db()
    assert not fan.subscribed and fan.unsubscribe_time == t0 + timedelta(hours=1)
    services.record_subscribe(acct, "o-1", t0 + timedelta(hours=2))
    fan.refresh_from_db()
    assert fan.subscribed and fan.unsubscribe_time is None
    assert Fan.objects.filter(account=acct).count() == 1


def test_a_message_opens_five_sends_for_48_hours(acct):
    now = timezone.now()
    fan = services.record_interaction(acct, "o-2", now, message=True)
    assert fan.in_window(now + timedelta(hours=47))
    assert not fan.in_window(now + timedelta(hours=49))
    assert [services.consume_window(fan.pk, now) for _ in range(6)] == [True] * 5 + [False]


def test_a_subscribe_opens_three_sends_for_one_minute(acct):
    now = timezone.now()
    fan = services.record_subscribe(acct, "o-3", now)
    assert [services.consume_window(fan.pk, now) for _ in range(4)] == [True, True, True, False]
    fan = services.record_subscribe(acct, "o-4", now)
    assert services.consume_window(fan.pk, now + timedelta(seconds=61)) is False


def test_sends_use_the_grant_that_expires_first(acct):
    now = timezone.now()
    services.record_interaction(acct, "o-5", now, message=True)
    fan = services.record_interaction(acct, "o-5", now, message=False)  # a menu click
    for _ in range(3):
        assert services.consume_window(fan.pk, now)
    fan.refresh_from_db()
    assert fan.event_window_left == 0 and fan.message_window_left == 5


def test_unfollowing_closes_the_window(acct):
    now = timezone.now()
    fan = services.record_interaction(acct, "o-6", now, message=True)
    services.record_unsubscribe(acct, "o-6", now)
    assert services.consume_window(fan.pk, now) is False


def test_list_filters(acct, team_a, team_b):
    now = timezone.now()
    services.record_subscribe(acct, "o-a", now)
    services.record_interaction(acct, "o-b", now, message=True)
    services.record_subscribe(acct, "o-c", now)
    services.record_unsubscribe(acct, "o-c", now)
    services.set_profile(acct, "o-a", nickname="小明🌟")
    Fan.objects.filter(openid="o-a").update(tags=[7, 9])
    other = OfficialAccount.objects.create(team=team_b, appid="wxfans000000000002", name="别人")
    services.record_subscribe(other, "o-z", now)

    def openids(**kw):
        return sorted(fans(team_a, FanFilter(**kw)).values_list("openid", flat=True))

    assert openids() == ["o-a", "o-b", "o-c"]
    assert openids(following=False) == ["o-c"]
    assert openids(in_window=True) == ["o-a", "o-b"]
    assert openids(q="小明") == ["o-a"]
    assert openids(q="o-b") == ["o-b"]
    assert openids(tag=9) == ["o-a"]
    assert sorted(fans(team_b, FanFilter()).values_list("openid", flat=True)) == ["o-z"]


def test_console_list_export_and_other_team_sync_404(console, acct, team_b):
    now = timezone.now()
    services.record_subscribe(acct, "o-x", now)
    services.set_profile(acct, "o-x", nickname="张三")
    page = console.get("/console/fans/?following=1").content.decode()
    assert "张三" in page and "o-x" in page
    response = console.get("/console/fans/export.csv")
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff") and "o-x" in body and "张三" in body
    other = OfficialAccount.objects.create(team=team_b, appid="wxfans000000000003", name="B")
    assert console.post(f"/console/fans/sync/{other.pk}/").status_code == 404
    # garbage filters are ignored, not a 500
    assert console.get("/console/fans/?tag=abc&following=7&account=x").status_code == 200


def test_api_list_and_tenancy(api, acct, team_b):
    services.record_subscribe(acct, "o-api", timezone.now())
    other = OfficialAccount.objects.create(team=team_b, appid="wxfans000000000004", name="B")
    theirs = services.record_subscribe(other, "o-theirs", timezone.now())
    body = api.get("/api/v1/fans/?following=1").json()
    assert [f["openid"] for f in body["results"]] == ["o-api"]
    assert api.get(f"/api/v1/fans/{theirs.pk}/").status_code == 404
    assert api.post("/api/v1/fan-syncs/", {"account": other.pk}, format="json").status_code == 404


def test_a_profile_from_oauth_alone_is_not_a_follower(acct):
    fan = services.set_profile(acct, "o-visitor", nickname="路人")
    assert fan.nickname == "路人" and not fan.subscribed
    services.record_subscribe(acct, "o-visitor", timezone.now())
    assert Fan.objects.get(openid="o-visitor").subscribed


def test_latest_sync_of_every_account_in_one_query(acct, team_a, team_b, django_assert_num_queries):
    from mediabao.fans.models import FanSync
    from mediabao.fans.selectors import latest_syncs

    second = OfficialAccount.objects.create(team=team_a, appid="wxfans000000000005", name="二号")
    theirs = OfficialAccount.objects.create(team=team_b, appid="wxfans000000000006", name="B")
    now = timezone.now()
    for account, ages in ((acct, (3, 1, 2)), (theirs, (0,))):
        for n, age in enumerate(ages):
            FanSync.objects.create(team=account.team, account=account, generation=n, state="done",
                                   started_at=now - timedelta(days=age))
    with django_assert_num_queries(1):
        found = latest_syncs(team_a, [acct.pk, second.pk, theirs.pk])
    assert set(found) == {acct.pk}  # the other team's account is not this team's; 二号 never synced
    assert found[acct.pk].started_at == now - timedelta(days=1)
    assert latest_syncs(team_a, []) == {}
