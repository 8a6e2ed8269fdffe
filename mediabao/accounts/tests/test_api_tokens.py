"""API tokens: created and revoked in the console, used by scripts, 401 JSON otherwise."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_token_created_in_console_works_for_the_api_and_is_shown_once(console):
    console.post("/accounts/tokens/", {"name": "nightly export"})
    page = console.get("/accounts/team/").content.decode()
    key = re.search(r'id="new-token">([^<]+)<', page).group(1)
    assert 'id="new-token"' not in console.get("/accounts/team/").content.decode()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = api.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["username"] == "alice"
    assert response.json()["team"]["name"] == "Team A"


def test_revoked_token_gets_401_json(console, api, owner):
    token = owner.api_tokens.get()
    console.post(f"/accounts/tokens/{token.pk}/revoke/")
    response = api.get("/api/v1/me/")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "authentication_failed"


def test_unknown_token_gets_401_json_not_html(db):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token mb_not-a-real-token")
    response = api.get("/api/v1/accounts/")
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "authentication_failed" and body["message"]
    assert "request_id" in body


def test_no_credentials_gets_401_json(db):
    response = APIClient().get("/api/v1/accounts/")
    assert response.status_code in (401, 403)
    assert response.json()["code"] in ("not_authenticated", "authentication_failed")


def test_token_api_create_list_revoke(api):
    response = api.post("/api/v1/tokens/", {"name": "ci"}, format="json")
    assert response.status_code == 201
    key = response.json()["key"]
    assert key.startswith("mb_")
    listed = api.get("/api/v1/tokens/").json()
    assert listed["count"] == 2
    assert all(item["key"] is None for item in listed["results"])
    token_id = response.json()["id"]
    assert api.delete(f"/api/v1/tokens/{token_id}/").status_code == 204
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert other.get("/api/v1/me/").status_code == 401


def test_validation_errors_use_the_one_error_format(api):
    response = api.post("/api/v1/tokens/", {"name": ""}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "name" in body["fields"]


def test_malformed_json_is_a_400_with_the_error_format(api):
    response = api.post("/api/v1/tokens/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_token_of_a_removed_member_stops_working(api, owner, team_a, make_user, member_of):
    from mediabao.accounts import services
    from mediabao.accounts.models import Membership

    helper = make_user("hank")
    member_of(helper, team_a)
    key = services.create_api_token(user=helper, team=team_a, name="x").key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/me/").status_code == 200
    services.remove_member(team=team_a, by=owner, membership=Membership.objects.get(user=helper, team=team_a))
    assert client.get("/api/v1/me/").status_code == 401
