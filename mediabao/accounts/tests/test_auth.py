"""Sign-up, login, throttling of wrong passwords, logout, password change, CSRF."""

from __future__ import annotations

import pytest
from django.test import Client

from mediabao.accounts.models import Membership, Role, User
from mediabao.testing.fixtures import PASSWORD

pytestmark = pytest.mark.django_db


def test_signup_creates_user_team_and_owner_membership(client):
    response = client.post("/accounts/signup/", {
        "username": "carol", "email": "carol@example.com", "password1": PASSWORD,
        "password2": PASSWORD, "team_name": "Carol Media",
    })
    assert response.status_code == 302
    user = User.objects.get(username="carol")
    assert user.current_team.name == "Carol Media"
    assert Membership.objects.get(user=user).role == Role.OWNER
    assert user.password.startswith("argon2$")
    # logged in straight away
    assert client.get("/console/").status_code == 200


def test_signup_rejects_mismatched_passwords_and_changes_nothing(client):
    response = client.post("/accounts/signup/", {
        "username": "dave", "password1": PASSWORD, "password2": PASSWORD + "x"})
    assert response.status_code == 200
    assert not User.objects.filter(username="dave").exists()


def test_login_and_logout(client, owner):
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/console/").status_code == 200
    client.post("/accounts/logout/")
    response = client.get("/console/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_wrong_passwords_are_rate_limited_even_for_the_right_one_then(client, owner):
    for _ in range(5):
        response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
        assert response.status_code == 200
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # another username from the same address is not locked by alice's failures
    response = client.post("/accounts/login/", {"username": "nobody", "password": "x"})
    assert response.status_code == 200


def test_successful_login_resets_the_failure_count(client, owner):
    for _ in range(4):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(4):
        assert client.post("/accounts/login/", {"username": "alice", "password": "no"}).status_code == 200


def test_console_post_without_csrf_token_is_refused(owner, team_a):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(owner)
    response = csrf_client.post("/accounts/team/rename/", {"name": "Hijacked"})
    assert response.status_code == 403
    team_a.refresh_from_db()
    assert team_a.name == "Team A"
    assert b"Traceback" not in response.content


def test_password_change(console, owner):
    response = console.post("/accounts/password/", {
        "old_password": PASSWORD, "new_password1": "An0ther-Secret-Pass",
        "new_password2": "An0ther-Secret-Pass"})
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("An0ther-Secret-Pass")
    # still logged in after the change
    assert console.get("/console/").status_code == 200


def test_password_change_with_wrong_old_password_keeps_the_old_one(console, owner):
    response = console.post("/accounts/password/", {
        "old_password": "bad", "new_password1": "An0ther-Secret-Pass",
        "new_password2": "An0ther-Secret-Pass"})
    assert response.status_code == 200
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)
