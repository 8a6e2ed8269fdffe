"""Templates, uploads, send jobs and their recipients, delivery settings and SOP schedules."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mediabao.core.tenancy import TeamOwned
from mediabao.wechat.models import OfficialAccount

MEDIA_LIFETIME = timedelta(days=3)  # WECHAT.md §1.5: temporary media_id expires after 3 days


class Template(TeamOwned):
    """A template of an account as ``get_all_private_template`` last reported it."""

    class Kind(models.TextChoices):
        LEGACY = "legacy", _("Legacy template")
        CATEGORY = "category", _("Category template")

    account = models.ForeignKey(OfficialAccount, on_delete=models.CASCADE,
                                related_name="message_templates", verbose_name=_("official account"))
    template_id = models.CharField(_("template ID"), max_length=64)
    title = models.CharField(_("title"), max_length=100)
    content = models.TextField(_("content"))
    example = models.TextField(_("example"), blank=True)
    primary_industry = models.CharField(_("primary industry"), max_length=64, blank=True)
    deputy_industry = models.CharField(_("deputy industry"), max_length=64, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.LEGACY)
    #: The ``{{name.DATA}}`` keys in content order.
    keys = models.JSONField(_("fields"), default=list)
    #: Gone from WeChat at the last sync (kept: old jobs refer to it).
    removed = models.BooleanField(_("removed"), default=False)
    synced_at = models.DateTimeField(_("synced"), default=timezone.now)

    class Meta:
        ordering = ["account", "title"]
        constraints = [models.UniqueConstraint(fields=["account", "template_id"],
                                               name="uniq_template_per_account")]
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")

    def __str__(self) -> str:
        return self.title


class Upload(TeamOwned):
    """An image uploaded for customer-service messages; its ``media_id`` lives 3 days."""

    account = models.ForeignKey(OfficialAccount, on_delete=models.CASCADE,
                                related_name="message_uploads", verbose_name=_("official account"))
    name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(max_length=40)
    data = models.BinaryField(_("image"))
    size = models.PositiveIntegerField(_("size"))
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    media_id = models.CharField(_("media ID"), max_length=128, blank=True)
    media_uploaded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("upload")
        verbose_name_plural = _("uploads")

    def __str__(self) -> str:
        return self.name

    def media_valid(self, margin: timedelta = timedelta(hours=1), now=None) -> bool:
        """True while the media_id is usable for at least ``margin`` more."""
        now = now or timezone.now()
        return bool(self.media_id and self.media_uploaded_at
                    and self.media_uploaded_at + MEDIA_LIFETIME - margin > now)


class DeliverySettings(models.Model):
    """Per-account knobs of the delivery engine and of operator notices."""

    account = models.OneToOneField(OfficialAccount, on_delete=models.CASCADE,
                                   related_name="delivery_settings")
    concurrency = models.PositiveIntegerField(_("requests in flight"), default=100)
    rate_per_second = models.PositiveIntegerField(_("messages per second"), default=3000)
    #: Template used when a customer-service notice to an operator is out of window.
    notice_template = models.ForeignKey(Template, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+", verbose_name=_("notice template"))

    class Meta:
        verbose_name = _("delivery settings")

    def __str__(self) -> str:
        return f"{self.account}"


class SendJob(TeamOwned):
    class Kind(models.TextChoices):
        TEMPLATE = "template", _("Template message")
        CUSTOM = "custom", _("Customer-service message")

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    ACTIVE_STATES = (State.RUNNING, State.PAUSED, State.SCHEDULED)
    FINAL_STATES = (State.DONE, State.FAILED, State.CANCELLED)

    account = models.ForeignKey(OfficialAccount, on_delete=models.CASCADE, related_name="send_jobs",
                                verbose_name=_("official account"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("created by"))
    name = models.CharField(_("name"), max_length=100, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    #: template: {"template": pk, "template_id", "data": {key: {"value", "color"?}}, "url"?,
    #: "miniprogram"?}; custom: {"msgtype": "text"|"image"|"news", …} (image: {"upload": pk}).
    message = models.JSONField(_("message"), default=dict)
    #: Optional template message for customer-service recipients out of window (same shape).
    fallback = models.JSONField(_("fallback template"), null=True, blank=True)
    #: {"type": "all"|"window"|"tag"|"openids"|"fan"|"campaign", "tag"?, "openids"?, "openid"?, …}
    audience = models.JSONField(_("audience"), default=dict)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.DRAFT)
    pause_reason = models.CharField(_("reason"), max_length=300, blank=True)
    total = models.PositiveIntegerField(_("recipients"), default=0)
    sent = models.PositiveIntegerField(_("sent"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    unknown = models.PositiveIntegerField(_("unknown"), default=0)
    source_job = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="retries", verbose_name=_("retry of"))
    schedule = models.ForeignKey("Schedule", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="jobs", verbose_name=_("schedule"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    scheduled_at = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    #: Last time a runner wrote progress (the console shows stalled jobs).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "-created_at"], name="sendjob_team_recent"),
                   models.Index(fields=["state"], name="sendjob_state")]
        verbose_name = _("send job")
        verbose_name_plural = _("send jobs")

    def __str__(self) -> str:
        return self.name or f"#{self.pk}"

    @property
    def done_count(self) -> int:
        return self.sent + self.failed + self.skipped + self.unknown

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.state in self.FINAL_STATES else 0
        return min(100, int(self.done_count * 100 / self.total))

    @property
    def success_rate(self) -> float | None:
        attempted = self.sent + self.failed + self.unknown
        return round(self.sent * 100 / attempted, 1) if attempted else None

    @property
    def duration(self) -> timedelta | None:
        if not self.started_at:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL_STATES


class Recipient(models.Model):
    """One fan of a job. Written in batches by the engine; never one UPDATE per message."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")
        UNKNOWN = "unknown", _("Unknown")

    class Channel(models.TextChoices):
        TEMPLATE = "template", _("Template message")
        CUSTOM = "custom", _("Customer-service message")

    class Reason(models.TextChoices):
        OUT_OF_WINDOW = "out_of_window", _("Out of the 48-hour window")
        QUOTA_USED = "quota_used", _("Customer-service quota used up")
        UNSUBSCRIBED = "unsubscribed", _("Unfollowed")
        BLACKLISTED = "blacklisted", _("Blacklisted")
        CANCELLED = "cancelled", _("Job cancelled")

    job = models.ForeignKey(SendJob, on_delete=models.CASCADE, related_name="recipients")
    openid = models.CharField(_("OpenID"), max_length=64)
    fan_id = models.BigIntegerField(null=True, blank=True)
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.PENDING)
    #: The channel used (or planned: ``template`` for a fallback known before sending).
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices, blank=True)
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices, blank=True)
    msgid = models.CharField(_("MsgID"), max_length=32, blank=True)
    errcode = models.IntegerField(_("errcode"), null=True, blank=True)
    errmsg = models.CharField(_("errmsg"), max_length=300, blank=True)
    #: TEMPLATESENDJOBFINISH status: success, failed:user block, failed: system failed.
    delivery = models.CharField(_("delivery"), max_length=32, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["job", "openid"], name="uniq_recipient_openid")]
        indexes = [
            # Claiming: the pending (and possibly stale sending) rows of a job, in id order.
            models.Index(fields=["job", "id"], name="recipient_claim",
                         condition=models.Q(state__in=["pending", "sending"])),
            # The job page's recipient list in id order, all states or one (the console
            # pages through a 100,000-recipient job without sorting it); state counts.
            models.Index(fields=["job", "state", "id"], name="recipient_job_state_id"),
            models.Index(fields=["job", "id"], name="recipient_job_id"),
            # TEMPLATESENDJOBFINISH lookup.
            models.Index(fields=["msgid"], name="recipient_msgid", condition=~models.Q(msgid="")),
            # The job page's delivery report counts (TEMPLATESENDJOBFINISH statuses received).
            models.Index(fields=["job", "delivery"], name="recipient_delivery",
                         condition=~models.Q(delivery="")),
        ]
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")

    def __str__(self) -> str:
        return self.openid


class Schedule(TeamOwned):
    """An SOP (定时消息): a job template fired once or on a recurrence by celery beat."""

    class Recurrence(models.TextChoices):
        ONCE = "once", _("Once")
        DAILY = "daily", _("Daily")
        WEEKLY = "weekly", _("Weekly")
        CRON = "cron", _("Cron")

    account = models.ForeignKey(OfficialAccount, on_delete=models.CASCADE,
                                related_name="message_schedules", verbose_name=_("official account"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=SendJob.Kind.choices)
    message = models.JSONField(_("message"), default=dict)
    fallback = models.JSONField(null=True, blank=True)
    audience = models.JSONField(_("audience"), default=dict)
    recurrence = models.CharField(_("repeat"), max_length=8, choices=Recurrence.choices,
                                  default=Recurrence.ONCE)
    run_at = models.DateTimeField(_("time"))
    #: For weekly: 0=Monday … 6=Sunday; for cron: "m h dom mon dow".
    weekdays = models.JSONField(default=list, blank=True)
    cron = models.CharField(_("cron expression"), max_length=100, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", null=True, blank=True,
                                         on_delete=models.SET_NULL, related_name="+")
    last_fired_at = models.DateTimeField(_("last fired"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run_at"]
        verbose_name = _("scheduled message")
        verbose_name_plural = _("scheduled messages")

    def __str__(self) -> str:
        return self.name
