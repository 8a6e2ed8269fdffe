"""Third-party platform (开放平台 component): ticket, component token, authorization.

WeChat pushes a ``component_verify_ticket`` every 10 minutes (valid 12 h); with it the
platform gets a ``component_access_token`` (2 h), creates pre-auth codes and sends the
operator to WeChat's authorize page; the ``auth_code`` it brings back is exchanged for
the authorizer's tokens, and the authorizer's refresh token (kept encrypted on the
account) renews them. The ticket lives in Redis and PostgreSQL (Redis may lose it, and
the next push is 10 minutes away); both tokens go through the shared
:class:`~mediabao.wechat.tokens.TokenStore`, so N processes cause one fetch.
See WECHAT.md §1.10.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from mediabao.audit import services as audit
from mediabao.wechat import kv
from mediabao.wechat.errors import TransportError, WeChatError
from mediabao.wechat.models import OfficialAccount

log = logging.getLogger(__name__)

TICKET_TTL = 12 * 3600
COMPONENT_MODE = "component_platform"  # token-store mode of the platform's own token


class ComponentNotConfigured(WeChatError):
    """No third-party platform credentials in settings: only developer mode is offered."""


@dataclass(frozen=True)
class ComponentConfig:
    appid: str
    secret: str
    token: str
    aes_key: str


def config() -> ComponentConfig:
    cfg = ComponentConfig(settings.WECHAT_COMPONENT_APPID, settings.WECHAT_COMPONENT_SECRET,
                          settings.WECHAT_COMPONENT_TOKEN, settings.WECHAT_COMPONENT_AES_KEY)
    if not (cfg.appid and cfg.secret and cfg.token and cfg.aes_key):
        raise ComponentNotConfigured(errmsg=_("The third-party platform is not configured."))
    return cfg


def is_configured() -> bool:
    try:
        config()
    except ComponentNotConfigured:
        return False
    return True


# --- ticket -------------------------------------------------------------------------
def _ticket_key(component_appid: str) -> str:
    return kv.key("component", component_appid, "ticket")


def save_ticket(component_appid: str, ticket: str) -> None:
    """Keep the ticket in Redis (read on every token fetch) and in PostgreSQL (survives Redis)."""
    from django.utils import timezone

    from mediabao.wechat.models import ComponentTicket

    ComponentTicket.objects.update_or_create(component_appid=component_appid,
                                             defaults={"ticket": ticket, "received_at": timezone.now()})
    kv.client().set(_ticket_key(component_appid), ticket, ex=TICKET_TTL)


def current_ticket(component_appid: str) -> str | None:
    """The ticket from Redis; after Redis lost it, the stored one (while still valid)."""
    ticket = kv.client().get(_ticket_key(component_appid))
    if ticket:
        return ticket
    from django.utils import timezone

    from mediabao.wechat.models import ComponentTicket

    row = ComponentTicket.objects.filter(component_appid=component_appid).first()
    if row is None:
        return None
    left = TICKET_TTL - (timezone.now() - row.received_at).total_seconds()
    if left <= 1:
        return None
    kv.client().set(_ticket_key(component_appid), row.ticket, ex=int(left), nx=True)
    return row.ticket


# --- component token ------------------------------------------------------------------
def fetch_component_token(cfg: ComponentConfig) -> tuple[str, int]:
    from mediabao.wechat.client import request

    ticket = current_ticket(cfg.appid)
    if not ticket:
        # 61005/61006 would follow; say plainly what is missing instead.
        raise WeChatError(errcode=61006, errmsg=_("No component_verify_ticket received yet; "
                                                  "WeChat pushes one every 10 minutes."))
    data = request("POST", "cgi-bin/component/api_component_token", appid=cfg.appid, body={
        "component_appid": cfg.appid, "component_appsecret": cfg.secret,
        "component_verify_ticket": ticket,
    })
    token = data.get("component_access_token")
    if not isinstance(token, str) or not token:
        raise TransportError(errmsg="api_component_token answered without a token")
    return token, int(data.get("expires_in", 7200))


def component_token(*, failed_token: str | None = None) -> str:
    from mediabao.wechat.tokens import Credentials, token_store

    cfg = config()
    return token_store().get(Credentials(appid=cfg.appid, secret=cfg.secret, mode=COMPONENT_MODE),
                             failed_token=failed_token)


def call(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A component API call with the component token (refreshed once on 40001/42001)."""
    from mediabao.wechat.client import request

    cfg = config()
    token = component_token()
    try:
        return request("POST", f"cgi-bin/component/{path}", appid=cfg.appid,
                       params={"component_access_token": token}, body=body)
    except WeChatError as exc:
        if not exc.needs_token_refresh:
            raise
        token = component_token(failed_token=token)
        return request("POST", f"cgi-bin/component/{path}", appid=cfg.appid,
                       params={"component_access_token": token}, body=body)


# --- authorizer tokens ----------------------------------------------------------------
def fetch_authorizer_token(appid: str) -> tuple[str, int]:
    """Renew an authorized account's token with its refresh token; 61023 → re-authorize."""
    cfg = config()
    account = OfficialAccount.objects.get(appid=appid)
    try:
        data = call("api_authorizer_token", {
            "component_appid": cfg.appid, "authorizer_appid": appid,
            "authorizer_refresh_token": account.refresh_token,
        })
    except WeChatError as exc:
        if exc.errcode == 61023:
            OfficialAccount.objects.filter(pk=account.pk).update(
                state=OfficialAccount.State.NEEDS_REAUTH)
            log.warning("authorizer %s needs re-authorization (61023)", appid)
        raise
    new_refresh = data.get("authorizer_refresh_token")
    if new_refresh and new_refresh != account.refresh_token:
        account.refresh_token = new_refresh
        account.save(update_fields=["refresh_token"])
    token = data.get("authorizer_access_token")
    if not isinstance(token, str) or not token:
        raise TransportError(errmsg="api_authorizer_token answered without a token")
    return token, int(data.get("expires_in", 7200))


# --- authorization flow ---------------------------------------------------------------
def authorize_url(redirect_uri: str) -> str:
    """WeChat's authorize page for a fresh pre-auth code (offers official accounts only)."""
    cfg = config()
    data = call("api_create_preauthcode", {"component_appid": cfg.appid})
    code = data.get("pre_auth_code")
    if not isinstance(code, str) or not code:
        raise TransportError(errmsg="api_create_preauthcode answered without a code")
    query = urlencode({"component_appid": cfg.appid, "pre_auth_code": code,
                       "redirect_uri": redirect_uri, "auth_type": 1})
    return f"{settings.WECHAT_MP_BASE}/cgi-bin/componentloginpage?{query}"


def _kind(info: dict) -> str:
    service_type = (info.get("service_type_info") or {}).get("id")
    return (OfficialAccount.Kind.SERVICE if service_type == 2
            else OfficialAccount.Kind.SUBSCRIPTION)


def _verified(info: dict) -> bool:
    return (info.get("verify_type_info") or {}).get("id", -1) not in (-1, None)


def permissions_of(authorization_info: dict) -> list[int]:
    ids = []
    for item in authorization_info.get("func_info") or []:
        scope = (item or {}).get("funcscope_category") or {}
        if isinstance(scope.get("id"), int):
            ids.append(scope["id"])
    return sorted(set(ids))


class AccountOfAnotherTeam(WeChatError):
    """The authorized account is already connected to another team on this platform."""


@transaction.atomic
def complete_authorization(team, auth_code: str) -> OfficialAccount:
    """Exchange the ``auth_code`` and save (or update) the account under ``team``."""
    from mediabao.wechat.tokens import token_store

    cfg = config()
    auth = call("api_query_auth", {"component_appid": cfg.appid, "authorization_code": auth_code})
    info = auth.get("authorization_info") or {}
    appid = info.get("authorizer_appid")
    if not isinstance(appid, str) or not appid:
        raise TransportError(errmsg="api_query_auth answered without authorizer_appid")
    details = call("api_get_authorizer_info", {"component_appid": cfg.appid,
                                               "authorizer_appid": appid})
    authorizer = details.get("authorizer_info") or {}
    account = OfficialAccount.objects.select_for_update().filter(appid=appid).first()
    if account is not None and account.team_id != team.id:
        raise AccountOfAnotherTeam(errmsg=_("This official account is connected to another team."))
    account = account or OfficialAccount(team=team, appid=appid)
    account.name = str(authorizer.get("nick_name") or appid)[:100]
    account.original_id = str(authorizer.get("user_name") or "")[:64]
    account.avatar_url = str(authorizer.get("head_img") or "")[:500]
    account.kind = _kind(authorizer)
    account.verified = _verified(authorizer)
    account.auth_mode = OfficialAccount.AuthMode.COMPONENT
    account.state = OfficialAccount.State.CONNECTED
    account.refresh_token = info.get("authorizer_refresh_token") or account.refresh_token
    account.appsecret = ""
    if hasattr(account, "permissions"):
        account.permissions = permissions_of(details.get("authorization_info") or info)
    account.save()
    audit.record(account.team, "account.authorized", account, details={"appid": appid})
    token = info.get("authorizer_access_token")
    if isinstance(token, str) and token:
        import time

        token_store().put(appid, token, time.time() + int(info.get("expires_in", 7200)))
    return account


def handle_notification(message: dict[str, Any]) -> None:
    """A decrypted push to the component's authorization URL (ticket or (un)authorization)."""
    info_type = message.get("InfoType", "")
    if info_type == "component_verify_ticket":
        ticket = message.get("ComponentVerifyTicket")
        if isinstance(ticket, str) and ticket:
            save_ticket(message.get("AppId") or config().appid, ticket)
        return
    appid = message.get("AuthorizerAppid", "")
    account = OfficialAccount.objects.filter(appid=appid,
                                             auth_mode=OfficialAccount.AuthMode.COMPONENT).first()
    if account is None:
        log.info("component %s push for unknown authorizer %s", info_type, appid)
        return
    if info_type == "unauthorized":
        from mediabao.wechat.tokens import token_store

        account.state = OfficialAccount.State.DISCONNECTED
        account.save(update_fields=["state"])
        audit.record(account.team, "account.disconnected", account, actor=None, details={"appid": appid})
        token_store().forget(appid)
        log.warning("authorizer %s revoked the authorization", appid)
    elif info_type in ("authorized", "updateauthorized"):
        code = message.get("AuthorizationCode")
        if isinstance(code, str) and code:
            try:
                complete_authorization(account.team, code)
            except WeChatError:  # the browser return may have used the code first
                log.info("authorization code of %s already used", appid)
