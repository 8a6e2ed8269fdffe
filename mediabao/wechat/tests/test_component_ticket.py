"""The component_verify_ticket survives Redis losing its keys (found by the scenario's Redis restart)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mediabao.wechat import component, kv
from mediabao.wechat.models import ComponentTicket

pytestmark = pytest.mark.django_db

APPID = "wxcomponentticket01"


def test_a_ticket_lost_by_redis_is_read_back_from_the_database():
    component.save_ticket(APPID, "ticket@@@one")
    assert ComponentTicket.objects.get(component_appid=APPID).ticket == "ticket@@@one"
    kv.client().delete(component._ticket_key(APPID))  # a Redis restart without persistence
    assert component.current_ticket(APPID) == "ticket@@@one"
    assert kv.client().get(component._ticket_key(APPID)) == "ticket@@@one"  # Redis is warm again
    assert 0 < kv.client().ttl(component._ticket_key(APPID)) <= component.TICKET_TTL


def test_the_next_push_replaces_the_stored_ticket_and_an_expired_one_is_not_used():
    component.save_ticket(APPID, "ticket@@@one")
    component.save_ticket(APPID, "ticket@@@two")
    assert ComponentTicket.objects.filter(component_appid=APPID).count() == 1
    assert component.current_ticket(APPID) == "ticket@@@two"
    ComponentTicket.objects.filter(component_appid=APPID).update(
        received_at=timezone.now() - timedelta(seconds=component.TICKET_TTL + 5))
    kv.client().delete(component._ticket_key(APPID))
    assert component.current_ticket(APPID) is None
