"""Daily roll-ups of the statistics (数据统计): one row per account (and activity) per local day
(and, for the fission levels, per level).

The rows are derived data: :mod:`mediabao.stats.rollup` recomputes whole days from the
source rows (fans, participants, assists, reward claims, promo-code follows), so a
refresh is idempotent and the figures equal the live queries of the same days.
"""

from __future__ import annotations

from django.db import models

from mediabao.core.tenancy import TeamOwned


class DailyStat(TeamOwned):
    """Figures of one account on one day (Asia/Shanghai).

    ``activity`` empty: the whole account (every fan; participants, assists and tiers
    of all activities). ``activity`` set: the activity's share on this account (fans
    whose source is the activity's poster; its participants, assists and tiers).
    """

    account = models.ForeignKey("wechat.OfficialAccount", on_delete=models.CASCADE, related_name="+")
    activity = models.ForeignKey("campaigns.Activity", on_delete=models.CASCADE, null=True, blank=True,
                                 related_name="+")
    day = models.DateField()
    new_fans = models.PositiveIntegerField(default=0)
    unfollows = models.PositiveIntegerField(default=0)
    joined = models.PositiveIntegerField(default=0)
    assists = models.PositiveIntegerField(default=0)
    #: Assists whose fan unfollowed on this day (the activity page's "unfollowed" column).
    assist_unfollows = models.PositiveIntegerField(default=0)
    tiers = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "activity", "day"], name="uniq_daily_stat",
                                    nulls_distinct=False),
        ]
        indexes = [
            models.Index(fields=["team", "day"], name="dailystat_team_day"),
            models.Index(fields=["activity", "day"], name="dailystat_activity_day",
                         condition=models.Q(activity__isnull=False)),
        ]


class ChannelDaily(TeamOwned):
    """Follows through one promo code (推广码) on one day: new fans, unfollows, scans."""

    channel = models.ForeignKey("channels.Channel", on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey("wechat.OfficialAccount", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    new = models.PositiveIntegerField(default=0)
    unfollowed = models.PositiveIntegerField(default=0)
    scans = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "day"], name="uniq_channel_daily")]
        indexes = [models.Index(fields=["team", "day"], name="channeldaily_team_day")]


class LevelDaily(TeamOwned):
    """Participants first seen on one day (``Participant.created_at``), by fission level, of
    one activity on one account: the statistics page's level distribution of a range."""

    account = models.ForeignKey("wechat.OfficialAccount", on_delete=models.CASCADE, related_name="+")
    activity = models.ForeignKey("campaigns.Activity", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    level = models.PositiveIntegerField()
    participants = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "activity", "day", "level"], name="uniq_level_daily"),
        ]
        indexes = [models.Index(fields=["team", "day"], name="leveldaily_team_day")]


class InviterDaily(TeamOwned):
    """Assists of one inviter on one day (``Assist.created_at``, every assist recorded): the
    statistics page's top inviters of a range, without grouping the range's assists."""

    inviter = models.ForeignKey("campaigns.Participant", on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey("wechat.OfficialAccount", on_delete=models.CASCADE, related_name="+")
    activity = models.ForeignKey("campaigns.Activity", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    assists = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["inviter", "day"], name="uniq_inviter_daily")]
        indexes = [models.Index(fields=["team", "day"], name="inviterdaily_team_day")]


class RollupState(models.Model):
    """How far a team's roll-ups reach: every day before ``complete_before`` is rolled up."""

    team = models.OneToOneField("accounts.Team", on_delete=models.CASCADE, related_name="+",
                                primary_key=True)
    complete_before = models.DateField()
    refreshed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"team {self.team_id}: rolled up before {self.complete_before}"
