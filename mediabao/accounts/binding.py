"""Binding an operator's own WeChat (扫码绑定): the console shows a QR code of an OAuth
link; opening it in WeChat stores the operator's openid, so the platform can notify them.

The QR code carries a random one-time key (10 minutes, in the cache) that points to the
operator and the account; WeChat's OAuth ``state`` carries the same key back.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse

from mediabao.accounts.models import User
from mediabao.audit import services as audit
from mediabao.wechat import oauth
from mediabao.wechat.models import OfficialAccount

TTL = 600


def _key(key: str) -> str:
    return f"wx-binding:{key}"


def start(user: User, account: OfficialAccount) -> str:
    """A one-time link for the QR code."""
    key = secrets.token_hex(16)
    cache.set(_key(key), {"user": user.pk, "account": account.pk}, timeout=TTL)
    return f"{settings.PUBLIC_BASE_URL}{reverse('accounts:wx_binding_open', args=[key])}"


def pending(key: str) -> tuple[User, OfficialAccount] | None:
    data = cache.get(_key(key)) if key.isalnum() and len(key) <= 64 else None
    if not data:
        return None
    user = User.objects.filter(pk=data["user"], is_active=True).first()
    account = OfficialAccount.objects.filter(pk=data["account"]).first()
    if user is None or account is None:
        return None
    return user, account


def oauth_link(key: str, account: OfficialAccount) -> str:
    back = f"{settings.PUBLIC_BASE_URL}{reverse('accounts:wx_binding_done')}"
    return oauth.authorize_url(account, back, state=key, scope="snsapi_base")


def finish(key: str, code: str) -> User | None:
    """Exchange the code and bind; the key works once."""
    found = pending(key)
    if found is None:
        return None
    user, account = found
    result = oauth.exchange_code(account, code)
    if not result.openid:
        return None
    cache.delete(_key(key))
    user.wx_openid, user.wx_appid = result.openid, account.appid
    user.save(update_fields=["wx_openid", "wx_appid"])
    audit.record(account.team, "operator.wechat_bound", account, actor=user, label=user.username)
    return user


def unbind(user: User) -> None:
    audit.record(user.current_team, "operator.wechat_unbound", user, actor=user, label=user.username)
    user.wx_openid = user.wx_appid = ""
    user.save(update_fields=["wx_openid", "wx_appid"])
