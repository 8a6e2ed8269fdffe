"""Operator actions through the API and WeChat pushes land in the team's audit log."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from mediabao.accounts import services as accounts
from mediabao.audit.models import AuditEntry
from mediabao.messaging.models import Recipient, SendJob
from mediabao.wechat import component
from mediabao.wechat.models import OfficialAccount
from tests.security.test_permissions import BODIES, JOB, Ctx


@pytest.fixture
def api(world) -> APIClient:
    client = APIClient(REMOTE_ADDR="198.51.100.20")
    key = accounts.create_api_token(user=world.owner, team=world.team, name="hooks").key
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _log(world, since: int) -> list[tuple[str, str]]:
    entries = AuditEntry.objects.for_team(world.team).filter(pk__gt=since).order_by("id")
    assert all(e.actor_id == world.owner.pk and e.ip == "198.51.100.20" for e in entries)
    return [(e.action, e.target_label) for e in entries]


def test_api_actions_are_recorded(world, api, sim):
    since = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    ids, ctx = world.ids, Ctx(world, sim)
    job = f"/api/v1/message-jobs/{ids['message-job']}"
    assert api.post(f"{job}/resume/").status_code == 200
    assert api.post(f"{job}/pause/").status_code == 200
    assert api.post(f"{job}/cancel/").status_code == 200
    Recipient.objects.create(job_id=ids["message-job"], openid="o-failed", state=Recipient.State.FAILED)
    assert api.post(f"{job}/retry/").status_code == 201
    draft = {"account": ids["account"], "name": "周报", **JOB, "draft": True}
    assert api.post("/api/v1/message-jobs/", draft, format="json").status_code == 201
    channel = api.post("/api/v1/channels/", {"account": ids["account"], "name": "地铁广告"}, format="json")
    assert api.post(f"/api/v1/channels/{channel.json()['id']}/archive/").status_code == 200
    assert api.post(f"/api/v1/channels/{channel.json()['id']}/restore/").status_code == 200
    body, fmt = BODIES["POST /api/v1/activities/"](ctx)
    created = api.post("/api/v1/activities/", body, format=fmt)
    assert created.status_code == 201, created.content
    renamed = api.patch(f"/api/v1/activities/{ids['activity']}/", {"name": "夏季裂变"}, format="json")
    assert renamed.status_code == 200
    assert api.delete(f"/api/v1/activities/{created.json()['id']}/").status_code == 204
    assert api.patch(f"/api/v1/reward-claims/{ids['reward-claim']}/", {"shipped": True},
                     format="json").status_code == 200
    body, fmt = BODIES["POST /api/v1/accounts/"](ctx)
    assert api.post("/api/v1/accounts/", body, format=fmt).status_code == 201
    assert _log(world, since) == [
        ("job.resumed", "甲群发"), ("job.paused", "甲群发"), ("job.cancelled", "甲群发"),
        ("job.created", "甲群发（重试）"),
        ("job.created", "周报"),
        ("channel.created", "地铁广告"), ("channel.archived", "地铁广告"), ("channel.restored", "地铁广告"),
        ("activity.created", "新活动"), ("activity.changed", "夏季裂变"), ("activity.deleted", "新活动"),
        ("reward.shipped", "CODE1"), ("account.developer_saved", "新号"),
    ]


def test_a_revoked_authorization_is_a_system_entry(world):
    OfficialAccount.objects.filter(pk=world.account.pk).update(auth_mode=OfficialAccount.AuthMode.COMPONENT)
    component.handle_notification({"InfoType": "unauthorized", "AuthorizerAppid": world.account.appid})
    entry = AuditEntry.objects.for_team(world.team).get(action="account.disconnected")
    assert entry.actor is None and entry.ip is None and entry.details == {"appid": world.account.appid}
    assert SendJob.objects.filter(pk=world.ids["message-job"]).exists()
