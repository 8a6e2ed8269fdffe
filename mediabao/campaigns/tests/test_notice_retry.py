"""A notice or poster whose send hits a Redis/PostgreSQL outage is sent by the retry (found by
the deployment scenario's Redis restart: the claim stayed and it was never delivered)."""

from __future__ import annotations

import pytest
import redis

from mediabao.campaigns import services, tasks
from mediabao.campaigns.models import Notice

from .test_assists import assist, seed

pytestmark = pytest.mark.django_db


def test_an_outage_during_the_send_gives_the_claim_back_and_the_retry_sends(make_activity, acct, monkeypatch):
    activity = make_activity()
    inviter = seed(activity, acct)
    assist(acct, inviter, "f1")
    notice = Notice.objects.get()
    sent = []

    def down(account, openid, text):
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6390")

    monkeypatch.setattr("mediabao.messaging.notify.send_notice", down)
    with pytest.raises(redis.exceptions.ConnectionError):
        services.deliver_notice(notice.pk)
    notice.refresh_from_db()
    assert notice.sent_at is None and notice.channel == ""  # still to be sent
    assert redis.exceptions.ConnectionError in tasks.send_notice.autoretry_for

    monkeypatch.setattr("mediabao.messaging.notify.send_notice",
                        lambda account, openid, text: sent.append(openid) or "custom")
    assert services.deliver_notice(notice.pk) == "custom"  # the retry
    assert services.deliver_notice(notice.pk) == ""  # and only once
    assert sent == ["seed"]


def test_a_poster_send_hit_by_an_outage_is_retried_once(make_activity, acct, monkeypatch):
    from mediabao.campaigns import delivery

    activity = make_activity()
    inviter = seed(activity, acct)
    sent = []
    monkeypatch.setattr(services, "ensure_poster", lambda participant, client=None: _poster(participant))

    def down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6390")

    monkeypatch.setattr("mediabao.wechat.media.upload_temporary_image", down)
    with pytest.raises(redis.exceptions.ConnectionError):
        delivery.send_poster_image(inviter.pk)
    assert not Notice.objects.filter(key__startswith="poster:").exists()  # the claim was given back
    assert redis.exceptions.ConnectionError in tasks.send_poster_image.autoretry_for

    monkeypatch.setattr("mediabao.wechat.media.upload_temporary_image", lambda *a, **k: "media-1")
    monkeypatch.setattr(delivery, "_custom", lambda account, body: sent.append(body["touser"]) or True)
    assert delivery.send_poster_image(inviter.pk) is True  # the retry
    assert delivery.send_poster_image(inviter.pk) is False  # once per poster version
    assert sent == ["seed"]


def _poster(participant):
    from pathlib import Path

    path = Path(__file__).with_name("conftest.py")  # any readable file stands for the JPEG
    return path
