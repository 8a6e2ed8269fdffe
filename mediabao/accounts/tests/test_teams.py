"""Teams: invitations by link, roles, switching the current team."""

from __future__ import annotations

import re

import pytest

from mediabao.accounts.models import Invitation, Membership, Role

pytestmark = pytest.mark.django_db


def _invite_link(console) -> str:
    console.post("/accounts/team/invitations/", {"role": "member"})
    page = console.get("/accounts/team/").content.decode()
    match = re.search(r'id="invite-url">([^<]+)<', page)
    assert match, "the new invitation link is shown once"
    return match.group(1).replace("http://testserver", "")


def test_invite_by_link_and_accept(console, client, team_a, make_user):
    link = _invite_link(console)
    newcomer = make_user("erin")
    client.force_login(newcomer)
    assert "Team A" in client.get(link).content.decode()
    response = client.post(link)
    assert response.status_code == 302
    assert Membership.objects.get(user=newcomer, team=team_a).role == Role.MEMBER
    newcomer.refresh_from_db()
    assert newcomer.current_team == team_a
    # single use
    other = make_user("frank")
    client.force_login(other)
    assert client.get(link).status_code == 404
    client.post(link)
    assert not Membership.objects.filter(user=other, team=team_a).exists()


def test_the_invitation_link_is_shown_only_once(console):
    _invite_link(console)
    assert 'id="invite-url"' not in console.get("/accounts/team/").content.decode()


def test_anonymous_visitor_is_sent_to_login_to_accept(console):
    from django.test import Client

    link = _invite_link(console)
    response = Client().post(link)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_members_cannot_invite_or_change_roles(client, team_a, owner, make_user, member_of):
    member = make_user("gina")
    member_of(member, team_a)
    client.force_login(member)
    client.post("/accounts/team/switch/", {"team": team_a.id})
    client.post("/accounts/team/invitations/", {"role": "admin"})
    assert not Invitation.objects.filter(team=team_a).exists()
    owner_membership = Membership.objects.get(user=owner, team=team_a)
    client.post(f"/accounts/team/members/{owner_membership.pk}/role/", {"role": "member"})
    owner_membership.refresh_from_db()
    assert owner_membership.role == Role.OWNER


def test_last_owner_cannot_be_demoted(console, owner, team_a):
    mine = Membership.objects.get(user=owner, team=team_a)
    from mediabao.accounts import services

    with pytest.raises(Exception):
        services.change_role(team=team_a, by=owner, membership=mine, role=Role.MEMBER)
    mine.refresh_from_db()
    assert mine.role == Role.OWNER


def test_switch_team_only_to_own_teams(console, owner, team_a, team_b, make_user, member_of):
    console.post("/accounts/team/switch/", {"team": team_b.id})
    owner.refresh_from_db()
    assert owner.current_team == team_a
    member_of(owner, team_b)
    console.post("/accounts/team/switch/", {"team": team_b.id})
    owner.refresh_from_db()
    assert owner.current_team == team_b
    assert "Team B" in console.get("/console/").content.decode()


def test_garbage_team_id_is_a_clear_error_not_a_500(console):
    response = console.post("/accounts/team/switch/", {"team": "'; drop table"})
    assert response.status_code == 302
