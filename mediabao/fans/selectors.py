"""Reads for fans: the filtered list behind the console page, the API and exports."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from mediabao.accounts.models import Team
from mediabao.fans.models import Fan, FanSync


@dataclass(frozen=True)
class FanFilter:
    account: int | None = None
    q: str = ""
    following: bool | None = None
    in_window: bool | None = None
    tag: int | None = None
    source: str = ""
    #: A channel (推广码) id: fans whose follow was attributed to it.
    channel: int | None = None


def in_window_q(now=None) -> Q:
    now = now or timezone.now()
    return (Q(message_window_until__gt=now, message_window_left__gt=0)
            | Q(event_window_until__gt=now, event_window_left__gt=0))


def fans(team: Team | None, flt: FanFilter) -> QuerySet[Fan]:
    qs = Fan.objects.for_team(team).select_related("account")
    if flt.account:
        qs = qs.filter(account_id=flt.account)
    if flt.following is not None:
        qs = qs.filter(subscribed=flt.following)
    if flt.in_window is True:
        qs = qs.filter(in_window_q())
    elif flt.in_window is False:
        qs = qs.exclude(in_window_q())
    if flt.tag is not None:
        qs = qs.filter(tags__contains=[flt.tag])
    if flt.source:
        qs = qs.filter(source=flt.source)
    if flt.channel:
        qs = qs.filter(source=Fan.Source.CHANNEL, source_ref=str(flt.channel))
    term = flt.q.strip()
    if term:
        qs = qs.filter(Q(openid=term) | Q(nickname__icontains=term) | Q(remark__icontains=term))
    return qs.order_by("-subscribe_time", "-id")


def latest_sync(team: Team | None, account_id: int) -> FanSync | None:
    return FanSync.objects.for_team(team).filter(account_id=account_id).order_by("-started_at").first()
