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
