"""Per-day figures of an activity (SPEC §5.6) for its detail page.

Settled days come from the daily roll-ups (:mod:`mediabao.stats.rollup`, rows of
this activity); yesterday, today and days not rolled up yet are counted live with
one GROUP BY per figure. Both give the same numbers (``stats/tests/test_rollup.py``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from mediabao.campaigns.models import Activity, Assist, Participant, RewardClaim

_KEYS = ("assists", "unfollows", "joined", "claims")


def _by_day(queryset, field: str, since) -> dict[date, int]:
    from mediabao.stats.selectors import TZ

    if since is not None:
        queryset = queryset.filter(**{f"{field}__gte": since})
    rows = (queryset.annotate(day=TruncDate(field, tzinfo=TZ)).values("day").annotate(n=Count("id"))
            .order_by().values_list("day", "n"))
    return dict(rows)


def daily(activity: Activity, live: bool = False) -> list[dict]:
    """Rows (newest first): assists, unfollows, new participants, tiers completed."""
    from mediabao.stats.models import DailyStat
    from mediabao.stats.rollup import rolled_until
    from mediabao.stats.selectors import bounds, live_counts, today

    figures: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_KEYS, 0))
    split = date.min if live else rolled_until(activity.team_id)
    since = None
    if split > date.min:
        since = bounds(split, split)[0]
        rolled = (DailyStat.objects.filter(activity=activity, day__lt=split).values("day")
                  .annotate(assists=Sum("assists"), unfollows=Sum("assist_unfollows"), joined=Sum("joined"),
                            claims=Sum("tiers")).order_by())
        for row in rolled:
            for key in _KEYS:
                figures[row["day"]][key] += row[key]
    parts = {
        "assists": (Assist.objects.filter(activity=activity), "created_at"),
        "unfollows": (Assist.objects.filter(activity=activity, unfollowed_at__isnull=False), "unfollowed_at"),
        "joined": (Participant.objects.filter(activity=activity, joined=True, joined_at__isnull=False),
                   "joined_at"),
        "claims": (RewardClaim.objects.filter(tier__activity=activity), "created_at"),
    }
    if since is None:  # nothing rolled up: every day, grouped
        live_rows = {key: _by_day(qs, field, None) for key, (qs, field) in parts.items()}
    else:  # the live days (usually today alone) in one statement
        live_rows = live_counts(parts, since, None, day=split if split == today() else None)
    for key, rows in live_rows.items():
        for day, n in rows.items():
            figures[day][key] += n
    return [{"day": d, **f, "net": f["assists"] - f["unfollows"]}
            for d, f in sorted(figures.items(), reverse=True) if any(f.values())]


def participant_figures(activity: Activity) -> tuple[list[tuple[int, int]], int, int]:
    """``(levels, joined, flagged)`` of the activity's participants in one scan: the
    fission-level distribution (level, participants) and the joined and flagged counts."""
    rows = list(Participant.objects.filter(activity=activity).values("level")
                .annotate(n=Count("id"), joined=Count("id", filter=Q(joined=True)),
                          flagged=Count("id", filter=Q(flagged=True))).order_by("level"))
    return ([(r["level"], r["n"]) for r in rows], sum(r["joined"] for r in rows),
            sum(r["flagged"] for r in rows))


def levels(activity: Activity) -> list[tuple[int, int]]:
    """Fission-level distribution: (level, participants); one GROUP BY over the
    activity's rows (``participant_rank`` index on the activity)."""
    return list(Participant.objects.filter(activity=activity).values("level").annotate(n=Count("id"))
                .order_by("level").values_list("level", "n"))
