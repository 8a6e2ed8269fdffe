"""Fans (followers) of each official account, their interaction windows, and syncs."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import OpClass
from django.db import models
from django.db.models import F
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mediabao.core.tenancy import TeamOwned
from mediabao.wechat.models import OfficialAccount

# WECHAT.md §5: a message from the fan opens 5 customer-service sends for 48 hours;
# a subscribe, a QR scan or a menu click opens 3 sends for 1 minute.
MESSAGE_WINDOW_SECONDS = 48 * 3600
MESSAGE_WINDOW_SENDS = 5
EVENT_WINDOW_SECONDS = 60
EVENT_WINDOW_SENDS = 3


class Fan(TeamOwned):
    class Source(models.TextChoices):
        CHANNEL = "channel", _("Promo code")
        CAMPAIGN = "campaign", _("Campaign poster")
        OTHER = "other", _("Other")

    # No single-column index: uniq_fan_openid (account, openid) serves lookups by account.
    account = models.ForeignKey(OfficialAccount, on_delete=models.CASCADE, related_name="fans",
                                verbose_name=_("official account"), db_index=False)
    openid = models.CharField(_("OpenID"), max_length=64)
    unionid = models.CharField(_("UnionID"), max_length=64, blank=True)
    subscribed = models.BooleanField(_("following"), default=True)
    subscribe_time = models.DateTimeField(_("followed at"), null=True, blank=True)
    subscribe_scene = models.CharField(_("follow scene"), max_length=40, blank=True)
    qr_scene = models.CharField(_("QR scene"), max_length=64, blank=True)
    unsubscribe_time = models.DateTimeField(_("unfollowed at"), null=True, blank=True)
    # Known only from web OAuth (user/info stopped returning them on 2021-12-27).
    nickname = models.CharField(_("nickname"), max_length=100, blank=True)
    avatar_url = models.URLField(_("avatar"), max_length=500, blank=True)
    remark = models.CharField(_("remark"), max_length=100, blank=True)
    tags = ArrayField(models.IntegerField(), default=list, blank=True, verbose_name=_("tags"))
    source = models.CharField(_("source"), max_length=10, choices=Source.choices,
                              default=Source.OTHER)
    source_ref = models.CharField(_("source detail"), max_length=64, blank=True)
    last_interaction_at = models.DateTimeField(_("last interaction"), null=True, blank=True)
    # The two customer-service grants WeChat keeps per fan (see the constants above).
    message_window_until = models.DateTimeField(null=True, blank=True)
    message_window_left = models.PositiveSmallIntegerField(default=0)
    event_window_until = models.DateTimeField(null=True, blank=True)
    event_window_left = models.PositiveSmallIntegerField(default=0)
    # Which full sync last saw this fan in user/get: fans a sync did not see unfollowed.
    sync_generation = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-subscribe_time", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "openid"], name="uniq_fan_openid"),
        ]
        indexes = [
            models.Index(fields=["account", "subscribed", "-subscribe_time"], name="fan_account_follow"),
            models.Index(fields=["team", "-subscribe_time"], name="fan_team_recent"),
            models.Index(fields=["account", "message_window_until"], name="fan_message_window"),
            models.Index(fields=["account", "source", "source_ref"], name="fan_source"),
            # The fans who are not following (about one in ten): the statistics' unfollows
            # per day (a follower sync can mark an unfollower as following again without
            # clearing the time, so they filter on ``subscribed`` too) and the count of the
            # fan list's "not following" filter.
            models.Index(fields=["team", "unsubscribe_time"], name="fan_team_unfollowed",
                         condition=models.Q(subscribed=False)),
            # Console filters and search at a million fans. Partial: the rows a follower
            # sync inserts (no window, no nickname, no remark) are in none of them.
            models.Index(fields=["team", "message_window_until"], name="fan_team_msg_window",
                         condition=models.Q(message_window_until__isnull=False)),
            models.Index(fields=["team", "event_window_until"], name="fan_team_event_window",
                         condition=models.Q(event_window_until__isnull=False)),
            models.Index(F("team"), OpClass(Upper("nickname"), name="text_pattern_ops"),
                         name="fan_nickname_prefix", condition=~models.Q(nickname="")),
            models.Index(F("team"), OpClass(Upper("remark"), name="text_pattern_ops"),
                         name="fan_remark_prefix", condition=~models.Q(remark="")),
        ]
        verbose_name = _("fan")
        verbose_name_plural = _("fans")

    def __str__(self) -> str:
        return self.nickname or self.openid

    def in_window(self, now=None) -> bool:
        now = now or timezone.now()
        return bool(
            (self.message_window_until and self.message_window_until > now and self.message_window_left)
            or (self.event_window_until and self.event_window_until > now and self.event_window_left)
        )


class FanSync(TeamOwned):
    """One follower sync of an account: resumable from its cursor, with progress."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    account = models.ForeignKey(OfficialAccount, on_delete=models.CASCADE, related_name="fan_syncs")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    generation = models.PositiveIntegerField()
    next_openid = models.CharField(max_length=64, blank=True)
    total = models.PositiveIntegerField(null=True, blank=True)
    fetched = models.PositiveIntegerField(default=0)
    profiles = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # at most one unfinished sync per account: a second click joins the first
            models.UniqueConstraint(fields=["account"], condition=models.Q(state__in=["queued", "running"]),
                                    name="one_active_sync_per_account"),
        ]

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.state == self.State.DONE else 0
        return min(100, int(self.fetched * 100 / self.total))
