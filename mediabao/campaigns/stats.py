"""Per-day figures of an activity (SPEC §5.6), computed from the rows themselves.

Counted with one GROUP BY per figure over indexed columns; fine for the detail page of
one activity. (Incremental daily aggregates for millions of events are still to do.)
"""

from __future__ import annotations

from datetime import date

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from mediabao.campaigns.models import Activity, Assist, Participant, RewardClaim


def _by_day(queryset, field: str) -> dict[date, int]:
    tz = timezone.get_current_timezone()
    rows = (queryset.annotate(day=TruncDate(field, tzinfo=tz)).values("day").annotate(n=Count("id"))
            .values_list("day", "n"))
    return dict(rows)


def daily(activity: Activity) -> list[dict]:
    """Rows (newest first): assists, unfollows, new participants, tiers completed."""
    assists = _by_day(Assist.objects.filter(activity=activity), "created_at")
    gone = Assist.objects.filter(activity=activity, unfollowed_at__isnull=False)
    unfollows = _by_day(gone, "unfollowed_at")
    joined = _by_day(Participant.objects.filter(activity=activity, joined=True, joined_at__isnull=False),
                     "joined_at")
    claims = _by_day(RewardClaim.objects.filter(tier__activity=activity), "created_at")
    days = sorted(set(assists) | set(unfollows) | set(joined) | set(claims), reverse=True)
    return [{"day": d, "assists": assists.get(d, 0), "unfollows": unfollows.get(d, 0),
             "net": assists.get(d, 0) - unfollows.get(d, 0), "joined": joined.get(d, 0),
             "claims": claims.get(d, 0)} for d in days]


def levels(activity: Activity) -> list[tuple[int, int]]:
    """Fission-level distribution: (level, participants)."""
    return list(Participant.objects.filter(activity=activity).values("level").annotate(n=Count("id"))
                .order_by("level").values_list("level", "n"))
