"""Platform users, teams (the tenants), memberships with roles, invitations, API tokens."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mediabao.core.tenancy import TeamOwned


class User(AbstractUser):
    """A person who logs into the console. Belongs to teams through memberships."""

    current_team = models.ForeignKey(
        "Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("current team"),
    )
    # The operator's own openid, bound by scanning an OAuth QR code; used for notices.
    wx_openid = models.CharField(_("bound WeChat openid"), max_length=64, blank=True)
    wx_appid = models.CharField(_("account of the bound openid"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("platform user")
        verbose_name_plural = _("platform users")


class Team(models.Model):
    """The tenant: owns official accounts, campaigns, send jobs, channels."""

    name = models.CharField(_("name"), max_length=100)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership",
                                     related_name="teams")

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    MEMBER = "member", _("Member")


MANAGER_ROLES = {Role.OWNER, Role.ADMIN}


class Membership(models.Model):
    """A user's place in a team, with a role."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="memberships")
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(_("joined"), default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="uniq_membership")]
        ordering = ["joined_at"]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.team_id}:{self.role}"

    @property
    def can_manage(self) -> bool:
        return self.role in MANAGER_ROLES


def hash_secret(raw: str) -> str:
    """Store only a SHA-256 of tokens and invitation keys: a leaked table grants nothing."""
    return hashlib.sha256(raw.encode()).hexdigest()


class Invitation(TeamOwned):
    """A single-use link that adds whoever opens it (after logging in) to the team."""

    key_hash = models.CharField(max_length=64, unique=True)
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def is_usable(self) -> bool:
        return (self.accepted_at is None and self.revoked_at is None
                and self.expires_at > timezone.now())


class ApiToken(TeamOwned):
    """A personal API key for scripts, bound to one user and one team; shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
