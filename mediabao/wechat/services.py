"""Writes of the gateway: connecting accounts, pruning the event log."""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mediabao.audit import services as audit
from mediabao.wechat import errors
from mediabao.wechat.crypto import valid_encoding_aes_key
from mediabao.wechat.models import Event, OfficialAccount
from mediabao.wechat.tokens import Credentials, fetch_developer_token, token_store

log = logging.getLogger(__name__)

APPID_RE = re.compile(r"^wx[0-9A-Za-z]{6,30}$")
# The MP admin console accepts 3-32 letters or digits as the callback Token.
TOKEN_RE = re.compile(r"^[0-9A-Za-z]{3,32}$")


def _verification_error(exc: errors.WeChatError) -> ValidationError:
    """A form error that names the cause (issue 4: 40013, 40125, 40164 …)."""
    if isinstance(exc, errors.InvalidAppId):
        return ValidationError({"appid": _("WeChat says this AppID is invalid (40013).")})
    if isinstance(exc, errors.InvalidAppSecret):
        return ValidationError({"appsecret": _("WeChat says this AppSecret is wrong (40125).")})
    if isinstance(exc, errors.AppSecretFrozen):
        return ValidationError({"appsecret": _("This AppSecret is frozen (40243). Unfreeze or reset it "
                                               "in the WeChat admin console.")})
    if isinstance(exc, errors.IpNotWhitelisted):
        return ValidationError(_("WeChat refused this server's IP address (%(code)s). Add it to the "
                                 "account's IP whitelist: %(detail)s")
                               % {"code": exc.errcode, "detail": exc.errmsg})
    if isinstance(exc, errors.ComponentAccount):
        return ValidationError({"appid": _("This AppID belongs to a third-party platform, not to an "
                                           "official account (61024).")})
    if exc.retryable:
        return ValidationError(_("WeChat could not be reached to check the credentials. "
                                 "Please try again in a moment."))
    return ValidationError(_("WeChat rejected the credentials: %(meaning)s (%(code)s)")
                           % {"meaning": exc.meaning, "code": exc.errcode})


def validate_developer_fields(appid: str, appsecret: str, token: str, encoding_aes_key: str) -> None:
    problems: dict[str, str] = {}
    if not APPID_RE.match(appid):
        problems["appid"] = _("An AppID starts with “wx” followed by letters and digits.")
    if not appsecret or len(appsecret) > 64 or not appsecret.isascii():
        problems["appsecret"] = _("Enter the AppSecret shown in the WeChat admin console.")
    if not TOKEN_RE.match(token):
        problems["token"] = _("The Token is 3 to 32 letters or digits.")
    if not valid_encoding_aes_key(encoding_aes_key):
        problems["encoding_aes_key"] = _("The EncodingAESKey is 43 letters or digits.")
    if problems:
        raise ValidationError(problems)


def add_developer_account(team, appid: str, appsecret: str, token: str, encoding_aes_key: str,
                          name: str = "") -> OfficialAccount:
    """Connect an account in developer mode after WeChat accepted its credentials.

    The credentials are verified by fetching an access token (kept in the token store,
    since fetching invalidates the previous one after 5 minutes). Adding an appid again
    in the same team updates its credentials; an appid of another team is refused
    without saying which team has it.
    """
    appid, appsecret = appid.strip(), appsecret.strip()
    token, encoding_aes_key, name = token.strip(), encoding_aes_key.strip(), name.strip()
    validate_developer_fields(appid, appsecret, token, encoding_aes_key)
    existing = OfficialAccount.objects.filter(appid=appid).first()
    if existing is not None and existing.team_id != team.pk:
        raise ValidationError({"appid": _("This account is already connected to another team.")})
    try:
        access_token, expires_in = fetch_developer_token(Credentials(appid=appid, secret=appsecret))
    except errors.WeChatError as exc:
        log.info("developer-mode credentials of %s rejected: %s", appid, exc)
        raise _verification_error(exc) from exc
    with transaction.atomic():
        account = (OfficialAccount.objects.select_for_update().filter(appid=appid).first()
                   or OfficialAccount(team=team, appid=appid))
        if account.team_id != team.pk:
            raise ValidationError({"appid": _("This account is already connected to another team.")})
        account.name = name or account.name or appid
        account.auth_mode = OfficialAccount.AuthMode.DEVELOPER
        account.state = OfficialAccount.State.CONNECTED
        account.appsecret = appsecret
        account.callback_token = token
        account.encoding_aes_key = encoding_aes_key
        account.save()
        audit.record(team, "account.developer_saved", account, details={"appid": appid})
    token_store().put(appid, access_token, time.time() + expires_in)
    return account


def prune_events(days: int | None = None, batch: int = 5000) -> int:
    """Delete events older than the retention, in batches (no long lock on a busy table)."""
    days = settings.EVENT_RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    for account_id in OfficialAccount.objects.values_list("pk", flat=True):
        while True:
            ids = list(Event.objects.filter(account_id=account_id, received_at__lt=cutoff)
                       .order_by().values_list("pk", flat=True)[:batch])
            if not ids:
                break
            deleted += Event.objects.filter(pk__in=ids).delete()[0]
    return deleted
