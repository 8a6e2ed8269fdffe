"""The audit log: who did what to which object of a team, from where and when."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mediabao.core.tenancy import TeamOwned


class Action(models.TextChoices):
    ACCOUNT_AUTHORIZED = "account.authorized", _("Official account authorized")
    ACCOUNT_DISCONNECTED = "account.disconnected", _("Official account disconnected")
    ACCOUNT_DEVELOPER_SAVED = "account.developer_saved", _("Developer mode saved")
    KEYWORD_CREATED = "keyword.created", _("Keyword rule created")
    KEYWORD_CHANGED = "keyword.changed", _("Keyword rule changed")
    KEYWORD_DELETED = "keyword.deleted", _("Keyword rule deleted")
    JOB_CREATED = "job.created", _("Send job created")
    JOB_PAUSED = "job.paused", _("Send job paused")
    JOB_RESUMED = "job.resumed", _("Send job resumed")
    JOB_CANCELLED = "job.cancelled", _("Send job cancelled")
    ACTIVITY_CREATED = "activity.created", _("Activity created")
    ACTIVITY_CHANGED = "activity.changed", _("Activity changed")
    ACTIVITY_DELETED = "activity.deleted", _("Activity deleted")
    CHANNEL_CREATED = "channel.created", _("Promo code created")
    CHANNEL_ARCHIVED = "channel.archived", _("Promo code archived")
    CHANNEL_RESTORED = "channel.restored", _("Promo code restored")
    MEMBER_INVITED = "member.invited", _("Member invited")
    MEMBER_ROLE_CHANGED = "member.role_changed", _("Member role changed")
    MEMBER_REMOVED = "member.removed", _("Member removed")
    TOKEN_CREATED = "token.created", _("API token created")
    TOKEN_REVOKED = "token.revoked", _("API token revoked")
    REWARD_SHIPPED = "reward.shipped", _("Prize marked shipped")
    REWARD_UNSHIPPED = "reward.unshipped", _("Prize marked not shipped")
    WECHAT_BOUND = "operator.wechat_bound", _("Operator WeChat bound")
    WECHAT_UNBOUND = "operator.wechat_unbound", _("Operator WeChat unbound")


class AuditEntry(TeamOwned):
    """One operator (or system, ``actor`` empty) action on a team's object."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("actor"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(_("actor name"), max_length=150, blank=True, default="")
    action = models.CharField(_("action"), max_length=40, choices=Action.choices)
    target_type = models.CharField(_("target type"), max_length=40, blank=True, default="")
    target_id = models.CharField(_("target id"), max_length=64, blank=True, default="")
    target_label = models.CharField(_("target"), max_length=200, blank=True, default="")
    details = models.JSONField(_("details"), default=dict, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "created_at"], name="audit_team_created_idx")]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.target_type}:{self.target_id}"
