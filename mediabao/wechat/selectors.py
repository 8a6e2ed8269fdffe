"""Reads of the gateway: event log queries and call counters."""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet
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
