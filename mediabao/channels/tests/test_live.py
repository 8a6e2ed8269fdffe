"""End to end: wxsim fans scan the channel's code and WeChat's signed, encrypted pushes
reach the live callback; attribution and stats follow what the fans did."""

from __future__ import annotations

import pytest
from django.db import connections
from django.utils import timezone

from mediabao.channels import selectors, services
from mediabao.fans.models import Fan

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live(live_server, sim, account):
    sim.update_account(account.appid, server_url=f"{live_server.url}/wechat/callback/{account.appid}/")
    # wxsim keeps connections alive: the server's threads must not hold DB connections open
    db_settings = connections.settings["default"]
    max_age, db_settings["CONN_MAX_AGE"] = db_settings["CONN_MAX_AGE"], 0
    yield live_server
    db_settings["CONN_MAX_AGE"] = max_age


def test_fans_following_through_the_code_are_attributed_and_counted(live, sim, account, owner):
    channel = services.create_channel(account=account, name="门店海报", user=owner)
    other = services.create_channel(account=account, name="地铁广告", user=owner)
    newcomers = sim.create_fans(account.appid, 3, following=False)
    follower = sim.create_fans(account.appid, 1)[0]
    for openid in newcomers:
        assert sim.fan_subscribe(account.appid, openid, ticket=channel.ticket)["status"] == "ok"
    assert sim.fan_scan(account.appid, follower, ticket=channel.url)["status"] == "ok"  # SCAN
    assert sim.fan_unsubscribe(account.appid, newcomers[0])["status"] == "ok"
    # WeChat's dedup key is FromUserName + CreateTime + Event: a fan's second follow in the
    # same second as the first would be a "retry". Real fans are slower than this test.
    sim.advance_clock(2)
    # the fan comes back the same day through the same code: still one new fan
    assert sim.fan_scan(account.appid, newcomers[0], ticket=channel.ticket)["status"] == "ok"
    assert sim.fan_unsubscribe(account.appid, newcomers[1])["status"] == "ok"

    fans = {f.openid: f for f in Fan.objects.filter(account=account)}
    assert all(fans[o].source == Fan.Source.CHANNEL and fans[o].source_ref == str(channel.pk)
               for o in newcomers)
    assert fans[follower].source == Fan.Source.OTHER
    today = timezone.localdate()
    day = selectors.stats(channel, today, today).days[0]
    assert (day.new, day.unfollowed, day.net, day.retained, day.scans) == (3, 1, 2, 2, 1)
    counts = selectors.counts_for([channel.pk, other.pk])
    assert (counts[channel.pk].new, counts[channel.pk].following, counts[channel.pk].unfollowed) == (3, 2, 1)
    assert counts[other.pk].new == 0
