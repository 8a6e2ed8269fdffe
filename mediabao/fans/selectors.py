"""Reads for fans: the filtered list behind the console page, the API and exports."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from mediabao.accounts.models import Team
from mediabao.fans.models import Fan, FanSync
from mediabao.wechat.models import OfficialAccount


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
        # through the team's accounts: fan_source (account, source, source_ref) applies
        qs = qs.filter(source=flt.source, account_id__in=_account_ids(team, flt))
    if flt.channel:
        qs = qs.filter(source=Fan.Source.CHANNEL, source_ref=str(flt.channel))
    term = flt.q.strip()
    if term:
        # Every branch has an index: uniq_fan_openid (account, openid) through the team's
        # accounts, fan_nickname_prefix and fan_remark_prefix (partial: hence the <> ''). A
        # "contains" search would read every fan of the team (seconds at a million fans).
        qs = qs.filter(Q(openid=term, account_id__in=_account_ids(team, flt))
                       | (~Q(nickname="") & Q(nickname__istartswith=term))
                       | (~Q(remark="") & Q(remark__istartswith=term)))
        # The same order, but not one fan_team_recent can produce: otherwise PostgreSQL walks
        # that index hoping to meet 50 matches early, and reads every fan when there are few.
        return qs.order_by(Coalesce("subscribe_time", "subscribe_time").desc(), "-id")
    return qs.order_by("-subscribe_time", "-id")


def _account_ids(team: Team | None, flt: FanFilter) -> list[int]:
    """The accounts whose fans are listed: lets (account, …) indexes serve a team's list."""
    if flt.account:
        return [flt.account]
    return list(OfficialAccount.objects.for_team(team).values_list("id", flat=True))


def latest_sync(team: Team | None, account_id: int) -> FanSync | None:
    return FanSync.objects.for_team(team).filter(account_id=account_id).order_by("-started_at").first()


def latest_syncs(team: Team | None, account_ids: list[int]) -> dict[int, FanSync]:
    """The latest sync of each of the accounts, in one query (``DISTINCT ON`` the account)."""
    if not account_ids:
        return {}
    rows = (FanSync.objects.for_team(team).filter(account_id__in=account_ids)
            .order_by("account_id", "-started_at", "-id").distinct("account_id"))
    return {sync.account_id: sync for sync in rows}
