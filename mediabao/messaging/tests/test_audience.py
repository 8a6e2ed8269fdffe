"""Audience resolution: each type counted before sending and materialized in one statement."""

from __future__ import annotations

import pytest
from django.utils import timezone

from mediabao.fans.models import Fan
from mediabao.messaging import audience, services
from mediabao.messaging.models import Recipient
from mediabao.messaging.validation import Invalid

from .conftest import make_fans

pytestmark = pytest.mark.django_db


@pytest.fixture
def fans(wxsim, account):
    openids = make_fans(wxsim, account, 6)
    soon = timezone.now() + timezone.timedelta(hours=1)
    Fan.objects.filter(openid__in=openids[:2]).update(message_window_until=soon, message_window_left=5)
    Fan.objects.filter(openid=openids[2]).update(tags=[7, 9])
    Fan.objects.filter(openid=openids[5]).update(subscribed=False)
    return openids


@pytest.mark.parametrize(("spec", "total"), [
    ({"type": "all"}, 5), ({"type": "window"}, 2), ({"type": "tag", "tag": 9}, 1),
    ({"type": "fan", "openid": "oUNKNOWN000000000001"}, 1)])
def test_sizes(account, fans, spec, total):
    assert audience.size(spec, account.pk, "template")["total"] == total


def test_custom_sizes_split_by_window(account, fans):
    assert audience.size({"type": "all"}, account.pk, "custom") == {
        "total": 5, "in_window": 2, "out_of_window": 3}


def test_campaign_audience_is_a_hook(owner, account, fans, no_launch, monkeypatch):
    with pytest.raises(Invalid):
        services.create_job(team=account.team, user=owner, account=account, kind="custom",
                            message={"msgtype": "text", "text": {"content": "hi"}},
                            audience={"type": "campaign", "campaign": 1})
    monkeypatch.setitem(audience.SOURCES, "campaign",
                        lambda spec, account_id: ("SELECT unnest(%s::text[]) AS openid",
                                                  [fans[:3]]))
    job, _w = services.create_job(team=account.team, user=owner, account=account, kind="custom",
                                  message={"msgtype": "text", "text": {"content": "hi"}},
                                  audience={"type": "campaign", "campaign": 1})
    states = dict(Recipient.objects.filter(job=job).values_list("openid", "state"))
    # in window → pending (custom); out of window → reported as skipped, never dropped
    assert states == {fans[0]: "pending", fans[1]: "pending", fans[2]: "skipped"}
    assert (job.total, job.skipped) == (3, 1)
