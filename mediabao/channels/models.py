"""Promo channels (推广码): a permanent QR code of an account per partner channel.

A channel's code is permanent (``QR_LIMIT_STR_SCENE``) because it gets printed; WeChat
caps permanent codes at 100,000 per account and never deletes one, so archiving a
channel only hides it and its code keeps attributing follows.

Attribution rows (:class:`ChannelFollow`) make the statistics exact: one row per fan,
channel and local day of the follow. The rule for re-follows: a fan who unfollows and
follows again through the same channel on the same day reopens that day's row (one new
fan, not two); on a later day the follow is a new row, so it counts as a new fan of
that day.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mediabao.core.tenancy import TeamOwned
from mediabao.wechat.models import OfficialAccount

#: Channel scenes start with this; campaign scenes use ``ac_``, so they never collide.
SCENE_PREFIX = "ch_"
#: WECHAT.md §1.6: at most 100,000 permanent codes per account.
PERMANENT_QR_CAP = 100_000


def permanent_qr_cap() -> int:
    """The per-account budget (a setting so tests and small demos can lower it)."""
    return int(getattr(settings, "CHANNELS_PERMANENT_QR_CAP", PERMANENT_QR_CAP))


class Channel(TeamOwned):
    account = models.ForeignKey(OfficialAccount, on_delete=models.CASCADE, related_name="channels",
                                verbose_name=_("official account"))
    name = models.CharField(_("name"), max_length=60)
    note = models.CharField(_("note"), max_length=500, blank=True)
    scene_str = models.CharField(_("scene"), max_length=64, editable=False)
    ticket = models.CharField(_("ticket"), max_length=255, editable=False)
    url = models.CharField(_("QR content"), max_length=255, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                   blank=True, related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    archived = models.BooleanField(_("archived"), default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "scene_str"], name="uniq_channel_scene"),
        ]
        indexes = [
            models.Index(fields=["team", "archived", "-created_at"], name="channel_team_list"),
        ]
        verbose_name = _("promo code")
        verbose_name_plural = _("promo codes")

    def __str__(self) -> str:
        return self.name


class ChannelFollow(TeamOwned):
    """A follow through a channel's code: one row per fan, channel and local day."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="follows")
    account = models.ForeignKey(OfficialAccount, on_delete=models.CASCADE, related_name="+")
    openid = models.CharField(_("OpenID"), max_length=64)
    follow_day = models.DateField(_("day"))
    followed_at = models.DateTimeField(_("followed at"))
    unfollowed_at = models.DateTimeField(_("unfollowed at"), null=True, blank=True)
    unfollow_day = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-followed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "openid", "follow_day"],
                                    name="uniq_channel_follow_day"),
        ]
        indexes = [
            models.Index(fields=["account", "openid"], name="chfollow_fan"),
            models.Index(fields=["channel", "follow_day"], name="chfollow_day"),
            models.Index(fields=["channel", "unfollow_day"], name="chfollow_unfollow_day"),
        ]

    def __str__(self) -> str:
        return f"{self.openid} via {self.channel_id}"


class ChannelScan(TeamOwned):
    """A scan of a channel's code by a fan who already follows (WeChat's ``SCAN``)."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="scans")
    openid = models.CharField(_("OpenID"), max_length=64)
    scan_day = models.DateField(_("day"))
    scanned_at = models.DateTimeField(_("scanned at"))

    class Meta:
        ordering = ["-scanned_at", "-id"]
        constraints = [
            # a retried push carries the same CreateTime: stored once
            models.UniqueConstraint(fields=["channel", "openid", "scanned_at"], name="uniq_channel_scan"),
        ]
        indexes = [models.Index(fields=["channel", "scan_day"], name="chscan_day")]
