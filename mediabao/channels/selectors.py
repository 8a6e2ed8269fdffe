"""Reads for channels: the filtered list, per-row counts, daily statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Q, QuerySet

from mediabao.channels.models import Channel, ChannelFollow, ChannelScan
from mediabao.channels.services import local_day
from mediabao.core.tenancy import TeamQuerySet

#: The longest range the stats page and API draw (one row per day).
MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30


@dataclass(frozen=True)
class ChannelFilter:
    q: str = ""
    account: int | None = None
    #: False: active only (the default); True: archived only; None: both.
    archived: bool | None = False


def channels(team, flt: ChannelFilter | None = None) -> QuerySet[Channel]:
    flt = flt or ChannelFilter()
    qs: TeamQuerySet = Channel.objects.for_team(team).select_related("account", "created_by")
    if flt.q:
        qs = qs.filter(name__icontains=flt.q.strip())
    if flt.account:
        qs = qs.filter(account_id=flt.account)
    if flt.archived is not None:
        qs = qs.filter(archived=flt.archived)
    return qs


@dataclass
class Counts:
    new: int = 0
    following: int = 0
    unfollowed: int = 0
    scans: int = 0


def counts_for(channel_ids: list[int]) -> dict[int, Counts]:
    """All-time counts per channel, in two grouped queries (for one page of the list).

    ``new`` counts fan-days (see the re-follow rule in ``models``); ``following`` is the
    open rows (a fan has at most one open row per account); ``new = following + unfollowed``.
    """
    result = {pk: Counts() for pk in channel_ids}
    if not channel_ids:
        return result
    rows = (ChannelFollow.objects.filter(channel_id__in=channel_ids).values("channel_id")
            .annotate(new=Count("id"), following=Count("id", filter=Q(unfollowed_at__isnull=True))))
    for row in rows:
        c = result[row["channel_id"]]
        c.new, c.following = row["new"], row["following"]
        c.unfollowed = c.new - c.following
    scans = ChannelScan.objects.filter(channel_id__in=channel_ids).values("channel_id")
    for row in scans.annotate(n=Count("id")):
        result[row["channel_id"]].scans = row["n"]
    return result


def default_range(today: date | None = None) -> tuple[date, date]:
    from django.utils import timezone

    end = today or local_day(timezone.now())
    return end - timedelta(days=DEFAULT_RANGE_DAYS - 1), end


@dataclass
class DayRow:
    day: date
    new: int = 0
    unfollowed: int = 0
    scans: int = 0
    #: Of the fans gained this day, those still following now.
    retained: int = 0

    @property
    def net(self) -> int:
        return self.new - self.unfollowed


@dataclass
class Stats:
    start: date
    end: date
    days: list[DayRow] = field(default_factory=list)
    totals: DayRow | None = None
    all_time: Counts = field(default_factory=Counts)


def _split(team, start: date, end: date, live: bool) -> date:
    """The first day counted live; the days before come from the daily roll-ups."""
    from mediabao.stats.selectors import rolled_split

    return rolled_split(team, start, end, live)


def stats(channel: Channel, start: date, end: date, live: bool = False) -> Stats:
    """Per-day figures: new fans, unfollows and scans from the daily roll-ups for settled
    days and from the attribution rows for the rest; ``retained`` (still following now)
    is always counted from the rows (``chfollow_day``: one channel's range)."""
    span = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    days = {day: DayRow(day) for day in span}
    split = _split(channel.team, start, end, live)
    if split > start:
        from mediabao.stats.models import ChannelDaily

        for row in ChannelDaily.objects.filter(channel=channel, day__gte=start, day__lt=split).values(
                "day", "new", "unfollowed", "scans"):
            day = days[row["day"]]
            day.new, day.unfollowed, day.scans = row["new"], row["unfollowed"], row["scans"]
    follows = ChannelFollow.objects.filter(channel=channel)
    for row in (follows.filter(follow_day__range=(start, end)).values("follow_day")
                .annotate(n=Count("id"), kept=Count("id", filter=Q(unfollowed_at__isnull=True)))):
        if row["follow_day"] >= split:
            days[row["follow_day"]].new = row["n"]
        days[row["follow_day"]].retained = row["kept"]
    if split <= end:
        gone = follows.filter(unfollow_day__range=(split, end)).values("unfollow_day")
        for row in gone.annotate(n=Count("id")):
            days[row["unfollow_day"]].unfollowed = row["n"]
        scans = ChannelScan.objects.filter(channel=channel, scan_day__range=(split, end))
        for row in scans.values("scan_day").annotate(n=Count("id")):
            days[row["scan_day"]].scans = row["n"]
    ordered = list(days.values())
    totals = DayRow(end, new=sum(d.new for d in ordered), unfollowed=sum(d.unfollowed for d in ordered),
                    scans=sum(d.scans for d in ordered), retained=sum(d.retained for d in ordered))
    return Stats(start=start, end=end, days=ordered, totals=totals,
                 all_time=counts_for([channel.pk])[channel.pk])


def breakdown(team, start: date, end: date, account: int | None = None, live: bool = False,
              split: date | None = None) -> list[dict]:
    """New fans and unfollows per channel over a range (for the statistics app's breakdown):
    settled days (before ``split``, found when not given) from the daily roll-ups, the
    rest from the attribution rows."""
    from collections import Counter

    from django.db.models import Sum

    new: Counter = Counter()
    gone: Counter = Counter()
    split = split if split is not None else _split(team, start, end, live)
    if split > start:
        from mediabao.stats.models import ChannelDaily

        rolled = ChannelDaily.objects.for_team(team).filter(day__gte=start, day__lt=split)
        if account:
            rolled = rolled.filter(account_id=account)
        for pk, n, u in (rolled.values("channel_id").annotate(n=Sum("new"), u=Sum("unfollowed")).order_by()
                         .values_list("channel_id", "n", "u")):
            new[pk] += n
            gone[pk] += u
    if split <= end:
        qs = ChannelFollow.objects.for_team(team)
        if account:
            qs = qs.filter(account_id=account)
        new.update(dict(qs.filter(follow_day__range=(split, end)).values_list("channel_id")
                        .annotate(n=Count("id")).values_list("channel_id", "n")))
        gone.update(dict(qs.filter(unfollow_day__range=(split, end)).values_list("channel_id")
                         .annotate(n=Count("id")).values_list("channel_id", "n")))
    new, gone = +new, +gone  # drop zero counts (rolled rows of unfollows only)
    names = dict(Channel.objects.for_team(team).filter(pk__in=set(new) | set(gone))
                 .values_list("pk", "name"))
    return sorted(({"channel": pk, "name": names.get(pk, ""), "new": new.get(pk, 0),
                    "unfollowed": gone.get(pk, 0)} for pk in names),
                  key=lambda r: (-r["new"], r["name"]))
