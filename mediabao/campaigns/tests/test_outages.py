"""What a broker outage or a fan who left must not cause: lost notices, posters to non-followers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mediabao.campaigns import services, tasks
from mediabao.campaigns.models import Notice
from mediabao.fans import services as fans

pytestmark = pytest.mark.django_db


def test_a_fan_who_unfollowed_joins_as_not_following(make_activity, acct):
    activity = make_activity()
    fans.record_subscribe(acct, "left", timezone.now())
    fans.record_unsubscribe(acct, "left", timezone.now())
    fans.record_subscribe(acct, "here", timezone.now())
    assert services.join(activity, acct, "left", nickname="走了").following is False
    assert services.join(activity, acct, "here", nickname="还在").following is True
    assert services.join(activity, acct, "unknown", nickname="新来").following is True


def test_notices_whose_task_never_ran_are_queued_again(make_activity, acct, monkeypatch):
    activity = make_activity()
    inviter = services.join(activity, acct, "seed", nickname="小明")
    old = services.queue_notice(inviter, "assist:test:1", "早先的通知")
    fresh = services.queue_notice(inviter, "assist:test:2", "刚记下的通知")
    sent = services.queue_notice(inviter, "assist:test:3", "已经发出的通知")
    Notice.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    Notice.objects.filter(pk=sent.pk).update(created_at=timezone.now() - timedelta(minutes=5),
                                             sent_at=timezone.now())
    queued: list[int] = []
    monkeypatch.setattr(tasks.send_notice, "delay", queued.append)
    assert services.resend_unsent_notices() == 1
    assert queued == [old.pk]  # not the fresh one (its task may still be on its way), not the sent one
    assert fresh.pk not in queued
