"""Official accounts authorized to a team (the gateway issue fills in the flows)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mediabao.core.crypto import EncryptedTextField
from mediabao.core.tenancy import TeamOwned


class OfficialAccount(TeamOwned):
    class Kind(models.TextChoices):
        SERVICE = "service", _("Service account")
        SUBSCRIPTION = "subscription", _("Subscription account")

    class AuthMode(models.TextChoices):
        COMPONENT = "component", _("Third-party platform")
        DEVELOPER = "developer", _("Developer mode")

    class State(models.TextChoices):
        CONNECTED = "connected", _("Connected")
        NEEDS_REAUTH = "needs_reauth", _("Needs re-authorization")
        DISCONNECTED = "disconnected", _("Disconnected")

    appid = models.CharField(_("AppID"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    original_id = models.CharField(_("original id"), max_length=64, blank=True)
    avatar_url = models.URLField(_("avatar"), blank=True, max_length=500)
    kind = models.CharField(_("type"), max_length=16, choices=Kind.choices, default=Kind.SERVICE)
    verified = models.BooleanField(_("verified"), default=False)
    auth_mode = models.CharField(_("authorization"), max_length=16, choices=AuthMode.choices,
                                 default=AuthMode.DEVELOPER)
    state = models.CharField(_("state"), max_length=16, choices=State.choices,
                             default=State.CONNECTED)
    appsecret = EncryptedTextField(_("AppSecret"), blank=True)
    callback_token = EncryptedTextField(_("Token"), blank=True)
    encoding_aes_key = EncryptedTextField(_("EncodingAESKey"), blank=True)
    refresh_token = EncryptedTextField(_("authorizer refresh token"), blank=True)
    created_at = models.DateTimeField(_("added"), default=timezone.now)
    last_event_at = models.DateTimeField(_("last event"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # One account belongs to one team at a time on this platform.
            models.UniqueConstraint(fields=["appid"], name="uniq_account_appid"),
        ]
        verbose_name = _("official account")
        verbose_name_plural = _("official accounts")

    def __str__(self) -> str:
        return self.name

    @property
    def callback_url(self) -> str:
        return callback_url_for(self.appid)


def callback_url_for(appid: str) -> str:
    """The server URL an operator configures in WeChat for this account."""
    from django.conf import settings
    from django.urls import NoReverseMatch, reverse

    try:
        path = reverse("wechat:callback", kwargs={"appid": appid})
    except NoReverseMatch:  # the gateway's URLs are not mounted (yet): the documented path
        path = f"/wechat/callback/{appid}/"
    return f"{settings.PUBLIC_BASE_URL}{path}"


class Event(TeamOwned):
    """Every message and event WeChat pushed to an account, as received (the event log)."""

    account = models.ForeignKey(OfficialAccount, on_delete=models.CASCADE, related_name="events",
                                verbose_name=_("official account"))
    openid = models.CharField(_("OpenID"), max_length=64, blank=True)
    msg_type = models.CharField(_("message type"), max_length=32)
    event = models.CharField(_("event"), max_length=64, blank=True)
    event_key = models.CharField(_("event key"), max_length=255, blank=True)
    payload = models.JSONField(_("payload"), default=dict)
    create_time = models.BigIntegerField(_("WeChat time"), null=True, blank=True)
    # MsgId, or FromUserName + CreateTime + Event: unique per account, so a retried push
    # is stored once even if Redis lost its dedup key.
    dedup_key = models.CharField(max_length=160)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    #: Stored, answered, handlers not run yet (``wechat.processing``); False once they ran.
    pending = models.BooleanField(_("pending"), default=False)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "dedup_key"], name="uniq_event_dedup"),
        ]
        indexes = [
            models.Index(fields=["team", "-received_at"], name="event_team_recent"),
            models.Index(fields=["account", "-received_at"], name="event_account_recent"),
            models.Index(fields=["account", "openid", "-received_at"], name="event_fan_recent"),
            # the processor's queue: a handful of rows at any time
            models.Index(fields=["id"], name="event_pending", condition=models.Q(pending=True)),
        ]
        verbose_name = _("event")
        verbose_name_plural = _("events")

    def __str__(self) -> str:
        return f"{self.kind} {self.openid}"

    @property
    def kind(self) -> str:
        """The registry key: the event name for events, the message type otherwise."""
        return (self.event or self.msg_type).lower() if self.msg_type == "event" else self.msg_type


class ComponentTicket(models.Model):
    """The last ``component_verify_ticket`` WeChat pushed to the third-party platform.

    Redis holds the working copy; this row lets the platform get a component token after
    Redis lost its keys (a restart without persistence), instead of waiting up to 10 minutes
    for WeChat's next push with every authorized account unable to refresh its token.
    """

    component_appid = models.CharField(max_length=64, unique=True)
    ticket = EncryptedTextField()
    received_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.component_appid
