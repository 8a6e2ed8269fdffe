"""任务宝: activities, award tiers, participants, assists, reward claims and notices.

Exactness rests on the database, not on Python: an :class:`Assist` is unique per
(activity, fan openid), so a fan counts for at most one inviter however many events
arrive at once; invite counts move with ``F()`` under a row lock of the inviter; tier
stock is taken with ``UPDATE … WHERE remaining > 0``; a :class:`Notice` is unique per
key, so a retried task never tells the inviter twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mediabao.core.tenancy import TeamOwned
from mediabao.wechat.models import OfficialAccount

#: Campaign QR scenes: ``ac_<activity>_<participant>`` (channels use ``ch_``).
SCENE_PREFIX = "ac_"
#: WECHAT.md §1.6: temporary codes live at most 30 days.
QR_EXPIRE_SECONDS = 30 * 86400

DEFAULT_ASSIST_NOTICE = "{nickname} 为你助力成功，已邀请 {invites} 人，还差 {remaining} 人可领取 {prize}"
DEFAULT_TIER_NOTICE = "恭喜！你已邀请 {invites} 人，完成第 {level} 级任务，奖品：{prize}。{claim}"
DEFAULT_UNFOLLOW_NOTICE = "{nickname} 取消了关注，助力人数减 1，当前已邀请 {invites} 人"
DEFAULT_OUT_OF_STOCK_NOTICE = "你已完成第 {level} 级任务，但奖品「{prize}」已发完，感谢参与！"
DEFAULT_WELCOME = "感谢你为 {inviter} 助力！回复「{keyword}」也可以生成你的专属海报。"


def poster_upload_to(instance: Activity, filename: str) -> str:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "jpg"
    ext = ext if ext in ("jpg", "jpeg", "png") else "jpg"
    return f"campaigns/backgrounds/{instance.team_id}/{timezone.now():%Y%m%d%H%M%S%f}.{ext}"


class Activity(TeamOwned):
    class FraudAction(models.TextChoices):
        FLAG = "flag", _("Flag for review")
        BLACKLIST = "blacklist", _("Blacklist automatically")

    name = models.CharField(_("name"), max_length=100)
    start_time = models.DateTimeField(_("start"))
    end_time = models.DateTimeField(_("end"))
    accounts = models.ManyToManyField(OfficialAccount, related_name="activities",
                                      verbose_name=_("official accounts"))
    protection = models.BooleanField(
        _("new-follower protection"), default=True,
        help_text=_("An assist counts only for a fan who never followed the account before."))
    deduct_on_unfollow = models.BooleanField(
        _("deduct on unfollow"), default=True,
        help_text=_("When an assisting fan unfollows, the inviter's count drops by one."))
    join_keyword = models.CharField(_("join keyword"), max_length=30)
    rules = models.TextField(_("rules"), max_length=1500)
    assist_notice = models.CharField(_("assist notice"), max_length=300, default=DEFAULT_ASSIST_NOTICE)
    tier_notice = models.CharField(_("tier notice"), max_length=300, default=DEFAULT_TIER_NOTICE)
    unfollow_notice = models.CharField(_("unfollow notice"), max_length=300,
                                       default=DEFAULT_UNFOLLOW_NOTICE)
    out_of_stock_notice = models.CharField(_("out-of-stock notice"), max_length=300,
                                           default=DEFAULT_OUT_OF_STOCK_NOTICE)
    welcome_text = models.CharField(_("welcome for assisting fans"), max_length=300,
                                    default=DEFAULT_WELCOME, blank=True)
    # Anti-fraud (SPEC §7): both rules optional.
    fraud_max_per_minute = models.PositiveIntegerField(
        _("max assists per minute"), null=True, blank=True,
        help_text=_("More assists than this for one inviter within a minute trips the rule."))
    fraud_unfollow_percent = models.PositiveSmallIntegerField(
        _("max quick-unfollow %"), null=True, blank=True,
        help_text=_("More than this share of an inviter's assists unfollowing quickly trips the rule."))
    fraud_unfollow_minutes = models.PositiveIntegerField(_("quick unfollow within (minutes)"), default=10)
    fraud_action = models.CharField(_("when a rule trips"), max_length=10, choices=FraudAction.choices,
                                    default=FraudAction.FLAG)
    poster_background = models.ImageField(_("poster background"), upload_to=poster_upload_to,
                                          width_field="background_width",
                                          height_field="background_height")
    background_width = models.PositiveIntegerField(default=0, editable=False)
    background_height = models.PositiveIntegerField(default=0, editable=False)
    poster_layout = models.JSONField(_("poster layout"), default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                   blank=True, related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-start_time", "-id"]
        indexes = [models.Index(fields=["team", "-start_time"], name="activity_team_start")]
        verbose_name = _("activity")
        verbose_name_plural = _("activities")

    def __str__(self) -> str:
        return self.name

    def state(self, now=None) -> str:
        now = now or timezone.now()
        if now < self.start_time:
            return "upcoming"
        if now >= self.end_time:
            return "ended"
        return "running"

    def state_label(self) -> str:
        return {"upcoming": _("Not started"), "running": _("Running"), "ended": _("Ended")}[self.state()]

    def is_running(self, now=None) -> bool:
        return self.state(now) == "running"


class AwardTier(TeamOwned):
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="tiers")
    level = models.PositiveSmallIntegerField(_("level"))
    invites_needed = models.PositiveIntegerField(_("invites needed"))
    prize = models.CharField(_("prize"), max_length=100)
    stock = models.PositiveIntegerField(_("stock"), null=True, blank=True,
                                        help_text=_("Empty: unlimited."))
    remaining = models.IntegerField(_("remaining"), null=True, blank=True)

    class Meta:
        ordering = ["activity", "level"]
        constraints = [
            models.UniqueConstraint(fields=["activity", "level"], name="uniq_tier_level"),
            models.CheckConstraint(condition=models.Q(remaining__gte=0) | models.Q(remaining__isnull=True),
                                   name="tier_remaining_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.level}: {self.prize}"

    @property
    def out_of_stock(self) -> bool:
        return self.stock is not None and (self.remaining or 0) <= 0


class Participant(TeamOwned):
    """A fan in an activity: joined (has a poster) or only assisted someone."""

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="participants")
    account = models.ForeignKey(OfficialAccount, on_delete=models.CASCADE, related_name="+")
    openid = models.CharField(_("OpenID"), max_length=64)
    nickname = models.CharField(_("nickname"), max_length=100, blank=True)
    avatar_url = models.URLField(_("avatar"), max_length=500, blank=True)
    inviter = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="invitees", verbose_name=_("invited by"))
    level = models.PositiveIntegerField(_("fission level"), default=1)
    invites = models.IntegerField(_("invites"), default=0)
    tiers_completed = models.PositiveSmallIntegerField(_("tiers completed"), default=0)
    following = models.BooleanField(_("following"), default=True)
    blacklisted = models.BooleanField(_("blacklisted"), default=False)
    flagged = models.BooleanField(_("flagged for review"), default=False)
    flag_reason = models.CharField(_("flag reason"), max_length=200, blank=True)
    joined = models.BooleanField(_("joined"), default=False,
                                 help_text=_("False: the fan only assisted someone."))
    poster_path = models.CharField(max_length=300, blank=True)
    poster_key = models.CharField(max_length=32, blank=True)
    qr_ticket = models.CharField(max_length=255, blank=True)
    qr_url = models.CharField(max_length=255, blank=True)
    qr_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    joined_at = models.DateTimeField(_("joined at"), null=True, blank=True)

    class Meta:
        ordering = ["-invites", "id"]
        constraints = [
            models.UniqueConstraint(fields=["activity", "account", "openid"], name="uniq_participant"),
        ]
        indexes = [
            models.Index(fields=["activity", "-invites", "id"], name="participant_rank"),
            models.Index(fields=["team", "-created_at"], name="participant_team_recent"),
            models.Index(fields=["team", "joined_at"], name="participant_team_joined",
                         condition=models.Q(joined=True)),
        ]
        verbose_name = _("participant")
        verbose_name_plural = _("participants")

    def __str__(self) -> str:
        return self.nickname or self.openid

    @property
    def scene(self) -> str:
        return f"{SCENE_PREFIX}{self.activity_id}_{self.pk}"


class Assist(TeamOwned):
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="assists")
    inviter = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="assists")
    account = models.ForeignKey(OfficialAccount, on_delete=models.CASCADE, related_name="+")
    fan_openid = models.CharField(_("fan OpenID"), max_length=64)
    created_at = models.DateTimeField(_("assisted at"), default=timezone.now)
    unfollowed_at = models.DateTimeField(_("unfollowed at"), null=True, blank=True)
    counted = models.BooleanField(_("counted"), default=True)
    #: Whether the inviter's ``invites`` includes this assist. ``counted != applied`` means
    #: a change not yet settled (see ``services.settle``): the event path only flips
    #: ``counted``; settling moves the count, the tiers and the notices.
    applied = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["activity", "fan_openid"], name="uniq_assist_fan"),
        ]
        indexes = [
            models.Index(fields=["inviter", "created_at"], name="assist_inviter_time"),
            models.Index(fields=["team", "created_at"], name="assist_team_time"),
            models.Index(fields=["inviter", "id"], name="assist_unsettled",
                         condition=~models.Q(counted=models.F("applied"))),
        ]


class RewardClaim(TeamOwned):
    tier = models.ForeignKey(AwardTier, on_delete=models.CASCADE, related_name="claims")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="claims")
    code = models.CharField(_("redemption code"), max_length=64, blank=True)
    #: True once ``code`` was taken from the tier's imported pool (:class:`RewardCode`).
    code_from_pool = models.BooleanField(default=False)
    name = models.CharField(_("recipient"), max_length=50, blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    shipped = models.BooleanField(_("shipped"), default=False)
    shipped_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tier", "participant"], name="uniq_claim"),
        ]


class RewardCode(TeamOwned):
    """An imported redemption code of a tier; handed to one claim, never twice."""

    tier = models.ForeignKey(AwardTier, on_delete=models.CASCADE, related_name="codes")
    code = models.CharField(_("redemption code"), max_length=64)
    claim = models.OneToOneField(RewardClaim, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="pool_code")
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["tier", "code"], name="uniq_reward_code")]
        indexes = [models.Index(fields=["tier", "id"], name="reward_code_free",
                                condition=models.Q(claim__isnull=True))]


class Rehearsal(TeamOwned):
    """A run of wxsim's crowd driver against an activity (sandbox only)."""

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="rehearsals")
    account = models.ForeignKey(OfficialAccount, on_delete=models.CASCADE, related_name="+")
    run_id = models.PositiveIntegerField()
    config = models.JSONField(default=dict)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                   blank=True, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    #: The crowd's last known status (kept when the simulator forgets the run).
    last_status = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]


class Notice(TeamOwned):
    """One message to a participant; ``key`` makes each notice happen once."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="notices")
    key = models.CharField(max_length=80)
    text = models.CharField(max_length=600)
    channel = models.CharField(max_length=10, blank=True)  # "custom", "template" or "" (not delivered)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "key"], name="uniq_notice_key"),
        ]
        indexes = [models.Index(fields=["created_at"], name="notice_unsent",
                                condition=models.Q(sent_at__isnull=True))]
