"""Writes for accounts and teams: every change of users, teams and tokens goes here."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mediabao.accounts.models import (
    ApiToken,
    Invitation,
    Membership,
    Role,
    Team,
    User,
    hash_secret,
)
from mediabao.audit import services as audit

TOKEN_PREFIX = "mb_"


@transaction.atomic
def create_team(*, owner: User, name: str) -> Team:
    team = Team.objects.create(name=name.strip())
    Membership.objects.create(team=team, user=owner, role=Role.OWNER)
    if owner.current_team_id is None:
        owner.current_team = team
        owner.save(update_fields=["current_team"])
    return team


@transaction.atomic
def sign_up(*, username: str, password: str, email: str = "", team_name: str = "") -> User:
    user = User.objects.create_user(username=username, email=email, password=password)
    create_team(owner=user, name=team_name or _("%(name)s's team") % {"name": username})
    user.refresh_from_db()
    return user


def require_manager(user: User, team: Team) -> Membership:
    membership = Membership.objects.filter(team=team, user=user).first()
    if membership is None or not membership.can_manage:
        raise PermissionDenied(_("Only team owners and admins can do this."))
    return membership


def switch_team(*, user: User, team_id: int) -> Team:
    membership = Membership.objects.select_related("team").filter(user=user, team_id=team_id).first()
    if membership is None:
        raise PermissionDenied(_("You are not a member of that team."))
    user.current_team = membership.team
    user.save(update_fields=["current_team"])
    return membership.team


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    key: str  # shown once, in the link


def create_invitation(*, team: Team, by: User, role: str = Role.MEMBER) -> NewInvitation:
    require_manager(by, team)
    if role not in (Role.ADMIN, Role.MEMBER):
        raise ValidationError(_("An invitation can grant the admin or member role."))
    key = secrets.token_urlsafe(24)
    invitation = Invitation.objects.create(
        team=team, key_hash=hash_secret(key), role=role, created_by=by,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_VALID_DAYS),
    )
    audit.record(team, "member.invited", invitation, actor=by, label=role, details={"role": role})
    return NewInvitation(invitation, key)


def find_invitation(key: str) -> Invitation | None:
    return Invitation.objects.select_related("team").filter(key_hash=hash_secret(key)).first()


@transaction.atomic
def accept_invitation(*, key: str, user: User) -> Team:
    invitation = (Invitation.objects.select_for_update().select_related("team")
                  .filter(key_hash=hash_secret(key)).first())
    if invitation is None or not invitation.is_usable:
        raise ValidationError(_("This invitation link is invalid, used or expired."))
    if not Membership.objects.filter(team=invitation.team, user=user).exists():
        try:
            with transaction.atomic():
                Membership.objects.create(team=invitation.team, user=user, role=invitation.role)
        except IntegrityError:  # joined concurrently through another link
            pass
    invitation.accepted_by = user
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_by", "accepted_at"])
    user.current_team = invitation.team
    user.save(update_fields=["current_team"])
    return invitation.team


def revoke_invitation(*, invitation: Invitation, by: User) -> None:
    require_manager(by, invitation.team)
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])


@transaction.atomic
def change_role(*, team: Team, by: User, membership: Membership, role: str) -> Membership:
    actor = require_manager(by, team)
    if role not in Role.values:
        raise ValidationError(_("Unknown role."))
    if membership.role == Role.OWNER or role == Role.OWNER:
        if actor.role != Role.OWNER:
            raise PermissionDenied(_("Only an owner can grant or take the owner role."))
        owners = Membership.objects.filter(team=team, role=Role.OWNER).count()
        if membership.role == Role.OWNER and role != Role.OWNER and owners <= 1:
            raise ValidationError(_("A team needs at least one owner."))
    before, membership.role = membership.role, role
    membership.save(update_fields=["role"])
    audit.record(team, "member.role_changed", membership, actor=by, label=membership.user.username,
                 details={"role": [before, role]})
    return membership


@transaction.atomic
def remove_member(*, team: Team, by: User, membership: Membership) -> None:
    actor = require_manager(by, team)
    if membership.role == Role.OWNER:
        if actor.role != Role.OWNER:
            raise PermissionDenied(_("Only an owner can remove an owner."))
        if Membership.objects.filter(team=team, role=Role.OWNER).count() <= 1:
            raise ValidationError(_("A team needs at least one owner."))
    user = membership.user
    audit.record(team, "member.removed", membership, actor=by, label=user.username,
                 details={"role": membership.role})
    membership.delete()
    if user.current_team_id == team.id:
        other = Membership.objects.filter(user=user).select_related("team").first()
        user.current_team = other.team if other else None
        user.save(update_fields=["current_team"])
    ApiToken.objects.filter(user=user, team=team, revoked_at=None).update(revoked_at=timezone.now())


@dataclass(frozen=True)
class NewApiToken:
    token: ApiToken
    key: str  # shown once


def create_api_token(*, user: User, team: Team, name: str) -> NewApiToken:
    if not Membership.objects.filter(team=team, user=user).exists():
        raise PermissionDenied(_("You are not a member of that team."))
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, team=team, name=name.strip() or _("API token"),
                                    prefix=key[: len(TOKEN_PREFIX) + 6], key_hash=hash_secret(key))
    audit.record(team, "token.created", token, actor=user, label=f"{token.name} ({token.prefix}…)")
    return NewApiToken(token, key)


def revoke_api_token(*, token: ApiToken, by: User) -> None:
    if token.user_id != by.id:
        require_manager(by, token.team)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(token.team, "token.revoked", token, actor=by, label=f"{token.name} ({token.prefix}…)")


def authenticate_api_key(key: str) -> ApiToken | None:
    """Resolve a raw key to an active token whose user is still a member of its team."""
    if not key.startswith(TOKEN_PREFIX) or len(key) > 100:
        return None
    token = (ApiToken.objects.select_related("user", "team")
             .filter(key_hash=hash_secret(key), revoked_at=None).first())
    if token is None or not token.user.is_active:
        return None
    if not Membership.objects.filter(team=token.team, user=token.user).exists():
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


@transaction.atomic
def ensure_demo_operator(*, username: str) -> tuple[User, str] | None:
    """On an empty database make a demo operator and team; return (user, password) once."""
    if User.objects.exists():
        return None
    password = secrets.token_urlsafe(9)
    user = sign_up(username=username, password=password, team_name=_("Demo team"))
    return user, password
