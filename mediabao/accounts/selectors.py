"""Reads for accounts and teams."""

from __future__ import annotations

from django.db.models import QuerySet

from mediabao.accounts.models import ApiToken, Invitation, Membership, Team, User


def membership_for(user: User, team: Team | None) -> Membership | None:
    if team is None or not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, team=team).select_related("team").first()


def current_membership(user: User) -> Membership | None:
    """The user's current team membership, falling back to their first team."""
    if not user.is_authenticated:
        return None
    membership = None
    if user.current_team_id:
        membership = membership_for(user, user.current_team)
    if membership is None:
        membership = Membership.objects.filter(user=user).select_related("team").first()
        if membership is not None:
            user.current_team = membership.team
            user.save(update_fields=["current_team"])
    return membership


def teams_of(user: User) -> QuerySet[Team]:
    return Team.objects.filter(memberships__user=user).order_by("name")


def members_of(team: Team) -> QuerySet[Membership]:
    return Membership.objects.filter(team=team).select_related("user").order_by("joined_at")


def open_invitations(team: Team) -> QuerySet[Invitation]:
    return Invitation.objects.for_team(team).filter(accepted_at=None, revoked_at=None)


def tokens_of(user: User, team: Team) -> QuerySet[ApiToken]:
    return ApiToken.objects.for_team(team).filter(user=user)
