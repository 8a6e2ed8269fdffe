"""The audit log: operator actions are recorded, the page and API are for owners and admins."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from mediabao.accounts import services as accounts
from mediabao.accounts.models import Membership, Role
from mediabao.audit.models import AuditEntry
from mediabao.audit.services import record
from mediabao.keywords.models import KeywordRule
from mediabao.wechat.models import OfficialAccount

pytestmark = pytest.mark.django_db


@pytest.fixture
def acct(team_a):
    return OfficialAccount.objects.create(team=team_a, appid="wxaudit00000000001", name="审计号")


def _api_for(user, team) -> APIClient:
    client = APIClient()
    key = accounts.create_api_token(user=user, team=team, name="t").key
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_api_keyword_changes_are_recorded_with_actor_and_ip(api, owner, team_a, acct):
    created = api.post("/api/v1/keyword-rules/", {"account": acct.pk, "keyword": "价格", "text": "99"},
                       format="json", REMOTE_ADDR="203.0.113.7")
    assert created.status_code == 201
    rule_id = created.json()["id"]
    assert api.patch(f"/api/v1/keyword-rules/{rule_id}/", {"text": "88"}, format="json").status_code == 200
    assert api.delete(f"/api/v1/keyword-rules/{rule_id}/").status_code == 204
    entries = list(AuditEntry.objects.for_team(team_a).filter(target_type="keywordrule").order_by("id"))
    assert [e.action for e in entries] == ["keyword.created", "keyword.changed", "keyword.deleted"]
    assert {e.actor_id for e in entries} == {owner.pk}
    assert entries[0].ip == "203.0.113.7"
    assert entries[0].target_label == "价格" and entries[0].target_id == str(rule_id)


def test_console_keyword_delete_is_recorded(console, team_a, acct):
    rule = KeywordRule.objects.create(team=team_a, account=acct, keyword="你好", text="hi")
    assert console.post(reverse("keywords:delete", args=[rule.pk])).status_code == 302
    entry = AuditEntry.objects.for_team(team_a).get(action="keyword.deleted")
    assert entry.actor_name == "alice" and entry.target_label == "你好"


def test_team_and_token_actions_are_recorded(owner, team_a, make_user):
    bob = make_user("bobby")
    invitation = accounts.create_invitation(team=team_a, by=owner, role=Role.ADMIN).invitation
    membership = Membership.objects.create(team=team_a, user=bob, role=Role.MEMBER)
    accounts.change_role(team=team_a, by=owner, membership=membership, role=Role.ADMIN)
    token = accounts.create_api_token(user=owner, team=team_a, name="ci").token
    accounts.revoke_api_token(token=token, by=owner)
    accounts.remove_member(team=team_a, by=owner, membership=membership)
    log = {e.action: e for e in AuditEntry.objects.for_team(team_a)}
    assert log["member.invited"].target_id == str(invitation.pk)
    assert log["member.role_changed"].details == {"role": ["member", "admin"]}
    assert log["member.role_changed"].target_label == "bobby"
    assert log["member.removed"].target_label == "bobby"
    assert log["token.created"].target_label.startswith("ci (mb_")
    assert "token.revoked" in log
    assert all(e.actor_id == owner.pk and e.ip is None for e in log.values())  # no request: no IP


def test_system_actions_have_no_actor_and_nothing_is_written_without_a_team(team_a, acct):
    entry = record(team_a, "account.disconnected", acct, actor=None)
    assert entry.actor is None and entry.target_label == "审计号"
    assert record(None, "account.disconnected", acct) is None
    huge = record(team_a, "job.created", acct, actor=None, details={"x": "y" * 5000})
    assert huge.details == {"truncated": True, "keys": ["x"]}


def _entries(team, count: int, **fields) -> None:
    AuditEntry.objects.bulk_create([AuditEntry(team=team, action="keyword.created", target_label=f"k{i}",
                                               **fields) for i in range(count)])


def test_console_page_is_chinese_filterable_and_paginated(console, owner, team_a, team_b):
    _entries(team_a, 60, actor=owner, actor_name="alice")
    AuditEntry.objects.create(team=team_a, action="token.revoked", target_label="旧令牌",
                              created_at=timezone.now() - timedelta(days=10))
    AuditEntry.objects.create(team=team_b, action="token.revoked", target_label="别家的令牌")
    page = console.get(reverse("audit:list"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "操作日志" in html and "关键词回复规则已创建" in html and 'id="nav-audit"' in html
    assert "共 61 条记录" in html and "1 / 2" in html
    assert "别家的令牌" not in html
    second = console.get(reverse("audit:list"), {"page": 2}).content.decode()
    assert "旧令牌" in second
    only_revoked = console.get(reverse("audit:list"), {"action": "token.revoked"}).content.decode()
    assert "共 1 条记录" in only_revoked and "旧令牌" in only_revoked
    today = timezone.localdate().isoformat()
    recent = console.get(reverse("audit:list"), {"start": today, "end": today}).content.decode()
    assert "共 60 条记录" in recent
    by_actor = console.get(reverse("audit:list"), {"actor": owner.pk}).content.decode()
    assert "共 60 条记录" in by_actor
    bad = console.get(reverse("audit:list"), {"start": today, "end": "2000-01-01"})
    assert bad.status_code == 200 and "结束日期不能早于开始日期" in bad.content.decode()


def test_console_page_is_for_owners_and_admins_only(client, make_user, team_a, member_of):
    admin, member = make_user("carol"), make_user("dave")
    member_of(admin, team_a, Role.ADMIN)
    member_of(member, team_a, Role.MEMBER)
    for user, expected in ((admin, 200), (member, 403)):
        accounts.switch_team(user=user, team_id=team_a.pk)
        client.force_login(user)
        assert client.get(reverse("audit:list")).status_code == expected
    dashboard = client.get(reverse("web:dashboard")).content.decode()
    assert 'id="nav-audit"' not in dashboard  # dave, a plain member, has no link
    client.logout()
    assert client.get(reverse("audit:list")).status_code == 302  # to the login page


def test_api_lists_own_team_entries_for_managers(owner, team_a, team_b, other_owner, make_user, member_of):
    _entries(team_a, 3, actor=owner, actor_name="alice")
    theirs = AuditEntry.objects.create(team=team_b, action="token.revoked")
    api = _api_for(owner, team_a)
    body = api.get("/api/v1/audit-entries/").json()
    assert body["count"] == 3 + 1  # + the token created for this client
    assert {r["action"] for r in body["results"]} == {"keyword.created", "token.created"}
    assert api.get("/api/v1/audit-entries/", {"action": "keyword.created", "actor": owner.pk}
                   ).json()["count"] == 3
    assert api.get(f"/api/v1/audit-entries/{theirs.pk}/").status_code == 404
    bad = api.get("/api/v1/audit-entries/", {"start": "yesterday"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid" and "start" in bad.json()["fields"]
    member = make_user("erin")
    member_of(member, team_a, Role.MEMBER)
    denied = _api_for(member, team_a).get("/api/v1/audit-entries/")
    assert denied.status_code == 403 and denied.json()["code"] == "permission_denied"
    assert api.post("/api/v1/audit-entries/", {}, format="json").status_code == 405


def test_audit_endpoint_is_in_the_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/v1/audit-entries/" in schema["paths"]
    assert set(schema["paths"]["/api/v1/audit-entries/"]) == {"get"}
