"""Reads of the gateway: event log queries, call counters, the account of a callback."""

from __future__ import annotations

import threading
import time
from datetime import date

from django.conf import settings
from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from mediabao.wechat import kv
from mediabao.wechat.models import Event, OfficialAccount


def events_for(team, *, account: OfficialAccount | None = None, kind: str = "",
               openid: str = "") -> QuerySet[Event]:
    """The team's event log, newest first, optionally filtered (indexes: see Event.Meta)."""
    qs = Event.objects.for_team(team).select_related("account")
    if account is not None:
        qs = qs.filter(account=account)
    if openid:
        qs = qs.filter(openid=openid)
    if kind:
        kind = kind.strip()
        qs = qs.filter(msg_type="event", event__iexact=kind) if kind.lower() not in MESSAGE_TYPES \
            else qs.filter(msg_type=kind.lower())
    return qs


MESSAGE_TYPES = {"text", "image", "voice", "video", "shortvideo", "location", "link", "file"}


def call_counts(appid: str, day: date | None = None) -> dict[str, dict[str, int]]:
    """``{endpoint: {"total": n, "<errcode>": n, …}}`` of one account and day."""
    day = day or timezone.localdate()
    raw = kv.client().hgetall(kv.key("calls", appid, day.strftime("%Y%m%d")))
    out: dict[str, dict[str, int]] = {}
    for field, value in raw.items():
        endpoint, _, code = field.partition("|")
        out.setdefault(endpoint, {"total": 0})
        out[endpoint][code or "total"] = int(value)
    return dict(sorted(out.items()))


# --- the account of a callback -----------------------------------------------------------
_callback_accounts: dict[str, tuple[float, OfficialAccount | None]] = {}
_callback_lock = threading.Lock()


def account_for_callback(appid: str) -> OfficialAccount | None:
    """The account a push is addressed to, kept in this process for
    ``WECHAT_CALLBACK_ACCOUNT_SECONDS`` (default 2 s).

    Every push of a busy account would otherwise pay a query and three decryptions of
    its secrets for the same row. A change (keys, re-authorization, disconnection)
    reaches other processes within that time; this process forgets at once (signals
    below). The object is shared between threads: read it, never change it.
    """
    ttl = float(getattr(settings, "WECHAT_CALLBACK_ACCOUNT_SECONDS", 2.0))
    now = time.monotonic()
    hit = _callback_accounts.get(appid)
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    account = OfficialAccount.objects.filter(appid=appid).first()
    if ttl > 0:
        with _callback_lock:
            if len(_callback_accounts) > 10_000:  # unknown appids must not grow it without bound
                _callback_accounts.clear()
            _callback_accounts[appid] = (now, account)
    return account


def forget_callback_account(appid: str | None = None) -> None:
    with _callback_lock:
        if appid is None:
            _callback_accounts.clear()
        else:
            _callback_accounts.pop(appid, None)


@receiver([post_save, post_delete], sender=OfficialAccount)
def _account_changed(sender, instance: OfficialAccount, **kwargs) -> None:  # noqa: ARG001
    forget_callback_account(instance.appid)
