"""A user of team A gets 404 for every object of team B, in the console and the API."""

from __future__ import annotations

import pytest

from mediabao.accounts import services
from mediabao.accounts.models import ApiToken, Invitation, Membership, Role
from mediabao.wechat.models import OfficialAccount

pytestmark = pytest.mark.django_db


@pytest.fixture
def team_b_objects(other_owner, team_b):
    account = OfficialAccount.objects.create(team=team_b, appid="wxbbbbbbbbbbbbbbbb", name="B 号",
                                             appsecret="b-secret")
    invitation = services.create_invitation(team=team_b, by=other_owner, role=Role.MEMBER).invitation
    token = services.create_api_token(user=other_owner, team=team_b, name="b").token
    membership = Membership.objects.get(team=team_b, user=other_owner)
    return {"account": account, "invitation": invitation, "token": token, "membership": membership}


@pytest.fixture
def team_a_account(team_a):
    return OfficialAccount.objects.create(team=team_a, appid="wxaaaaaaaaaaaaaaaa", name="A 号")


CONSOLE_GETS = [("account", "/console/mp/{pk}/")]
CONSOLE_POSTS = [
    ("invitation", "/accounts/team/invitations/{pk}/revoke/"),
    ("token", "/accounts/tokens/{pk}/revoke/"),
    ("membership", "/accounts/team/members/{pk}/role/"),
    ("membership", "/accounts/team/members/{pk}/remove/"),
]
API_CALLS = [
    ("get", "account", "/api/v1/accounts/{pk}/"),
    ("delete", "invitation", "/api/v1/invitations/{pk}/"),
    ("delete", "token", "/api/v1/tokens/{pk}/"),
    ("get", "membership", "/api/v1/members/{pk}/"),
]


@pytest.mark.parametrize(("kind", "url"), CONSOLE_GETS)
def test_console_get_of_other_team_object_is_404(console, team_b_objects, team_a_account, kind, url):
    assert console.get(url.format(pk=team_a_account.pk)).status_code == 200
    response = console.get(url.format(pk=team_b_objects[kind].pk))
    assert response.status_code == 404
    assert "B 号" not in response.content.decode()


@pytest.mark.parametrize(("kind", "url"), CONSOLE_POSTS)
def test_console_post_on_other_team_object_is_404_and_changes_nothing(console, team_b_objects, kind, url):
    response = console.post(url.format(pk=team_b_objects[kind].pk), {"role": "member"})
    assert response.status_code == 404
    assert Invitation.objects.get(pk=team_b_objects["invitation"].pk).revoked_at is None
    assert ApiToken.objects.get(pk=team_b_objects["token"].pk).revoked_at is None
    assert Membership.objects.get(pk=team_b_objects["membership"].pk).role == Role.OWNER


@pytest.mark.parametrize(("method", "kind", "url"), API_CALLS)
def test_api_call_on_other_team_object_is_404(api, team_b_objects, method, kind, url):
    response = getattr(api, method)(url.format(pk=team_b_objects[kind].pk))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert Invitation.objects.get(pk=team_b_objects["invitation"].pk).revoked_at is None
    assert ApiToken.objects.get(pk=team_b_objects["token"].pk).revoked_at is None


def test_api_lists_show_only_own_team(api, team_b_objects, team_a_account):
    accounts = api.get("/api/v1/accounts/").json()
    assert [a["appid"] for a in accounts["results"]] == ["wxaaaaaaaaaaaaaaaa"]
    members = api.get("/api/v1/members/").json()
    assert [m["username"] for m in members["results"]] == ["alice"]


def test_console_lists_show_only_own_team(console, team_b_objects, team_a_account):
    page = console.get("/console/mp/").content.decode()
    assert "A 号" in page and "B 号" not in page


def test_a_token_of_team_a_stays_in_team_a_even_if_the_console_switched(api, owner, team_b, member_of,
                                                                          team_b_objects):
    member_of(owner, team_b)
    services.switch_team(user=owner, team_id=team_b.id)
    assert api.get(f"/api/v1/accounts/{team_b_objects['account'].pk}/").status_code == 404
    assert api.get("/api/v1/me/").json()["team"]["name"] == "Team A"


def test_secrets_are_encrypted_at_rest_and_masked_in_the_console(console, team_a):
    account = OfficialAccount.objects.create(team=team_a, appid="wxcccccccccccccccc", name="C",
                                             appsecret="plain-appsecret-123456")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT appsecret FROM wechat_officialaccount WHERE id = %s", [account.pk])
        stored = cursor.fetchone()[0]
    assert "plain-appsecret" not in stored
    assert OfficialAccount.objects.get(pk=account.pk).appsecret == "plain-appsecret-123456"
    page = console.get(f"/console/mp/{account.pk}/").content.decode()
    assert "plain-appsecret-123456" not in page and "3456" in page
