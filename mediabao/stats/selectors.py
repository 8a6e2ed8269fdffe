"""Statistics (数据统计, SPEC §5.6): per-day figures of a team over a range of local days.

The per-day figures of settled days come from the daily roll-ups
(:mod:`mediabao.stats.rollup`, one indexed range read); yesterday and today, and every
day of a team not rolled up yet, are counted live with one aggregate query per figure
(``GROUP BY`` the day in Asia/Shanghai) over the rows the other apps keep. The roll-ups
are made with the same queries, so both give the same numbers:

* new followers / unfollows: ``Fan.subscribe_time`` / ``Fan.unsubscribe_time``. A fan
  row keeps only its latest follow (a re-follow clears ``unsubscribe_time``), so a fan
  who unfollowed and followed again counts as a new follower on the day of the last
  follow and no unfollow is left behind for the earlier day.
* participants joined: ``Participant.joined_at`` (the fan opened the poster link);
* assists: ``Assist.created_at`` (every assist recorded, deducted ones included);
* tiers completed: ``RewardClaim.created_at`` (one claim per tier reached with stock);
* top inviters: assists in the range grouped by inviter (roll-ups
  :class:`~mediabao.stats.models.InviterDaily`, then live: ``assist_team_time``);
* fission levels: participants first seen in the range grouped by ``level`` (roll-ups
  :class:`~mediabao.stats.models.LevelDaily`, then live: ``participant_team_recent``);
* channels: :func:`mediabao.channels.selectors.breakdown` (roll-ups, then live).

With an activity, the fan figures are the fans whose source is that activity's poster
(``Fan.source = campaign``, ``source_ref = activity id``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connections
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from mediabao.campaigns.models import Activity, Assist, Participant, RewardClaim
from mediabao.fans.models import Fan
from mediabao.wechat.models import OfficialAccount

#: Days are the team's days: the platform's operators are in China.
TZ = ZoneInfo("Asia/Shanghai")
MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30
TOP_INVITERS = 10

#: The per-day figures, in the order of the table, the CSV and the API.
FIELDS = ("new_fans", "unfollows", "net", "joined", "assists", "tiers")


def today() -> date:
    return timezone.now().astimezone(TZ).date()


def default_range(end: date | None = None) -> tuple[date, date]:
    end = end or today()
    return end - timedelta(days=DEFAULT_RANGE_DAYS - 1), end


def preset_range(days: int, end: date | None = None) -> tuple[date, date]:
    end = end or today()
    return end - timedelta(days=days - 1), end


def bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The instants of ``start`` 00:00 and of the day after ``end`` 00:00, in Shanghai."""
    return (datetime.combine(start, time.min, tzinfo=TZ),
            datetime.combine(end + timedelta(days=1), time.min, tzinfo=TZ))


@dataclass
class Day:
    day: date
    new_fans: int = 0
    unfollows: int = 0
    joined: int = 0
    assists: int = 0
    tiers: int = 0

    @property
    def net(self) -> int:
        return self.new_fans - self.unfollows

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in FIELDS}


@dataclass
class Inviter:
    participant: int
    nickname: str
    openid: str
    activity: int
    activity_name: str
    assists: int
    invites: int


@dataclass
class Report:
    start: date
    end: date
    account: OfficialAccount | None = None
    activity: Activity | None = None
    days: list[Day] = field(default_factory=list)
    totals: Day | None = None
    top_inviters: list[Inviter] = field(default_factory=list)
    levels: list[tuple[int, int]] = field(default_factory=list)
    channels: list[dict] = field(default_factory=list)


def _per_day_queryset(queryset: QuerySet, column: str, lo: datetime, hi: datetime | None) -> QuerySet:
    """``(day, count)`` of the rows whose ``column`` falls in ``[lo, hi)``: one GROUP BY."""
    if hi is not None:
        queryset = queryset.filter(**{f"{column}__lt": hi})
    return (queryset.filter(**{f"{column}__gte": lo})
            .annotate(day=TruncDate(column, tzinfo=TZ)).values("day")
            .annotate(n=Count("*")).order_by().values_list("day", "n"))  # COUNT(*): index-only


def live_counts(parts: dict[str, tuple[QuerySet, str]], lo: datetime, hi: datetime | None,
                day: date | None = None) -> dict[str, dict[date, int]]:
    """Per figure, ``{day: count}`` of the rows whose column falls in ``[lo, hi)`` (``hi``
    None: no upper bound), for ``parts`` = ``{figure: (queryset, column)}``: ONE statement,
    the figures' queries joined by ``UNION ALL``.

    ``day`` given (the range is that one local day, the usual live part: today) counts
    each figure with a plain ``count(*)`` on its index range; otherwise each figure is
    grouped by its local day (``AT TIME ZONE`` on every row, which costs more than the
    count itself on a busy day)."""
    if not parts:
        return {}
    pieces, params, db = [], [], None
    for name, (queryset, column) in parts.items():
        db = queryset.db
        if day is not None:
            rows = queryset.filter(**{f"{column}__gte": lo})
            if hi is not None:
                rows = rows.filter(**{f"{column}__lt": hi})
            sql, p = rows.order_by().values("pk").query.sql_with_params()
            # ``sql`` is the ORM's own, with placeholders: every value travels as a parameter
            pieces.append(f"SELECT %s AS figure, %s::date AS day, count(*) AS n FROM ({sql}) AS live")  # noqa: S608
            params.extend([name, day, *p])
        else:
            sql, p = _per_day_queryset(queryset, column, lo, hi).query.sql_with_params()
            pieces.append(f"SELECT %s AS figure, grouped.* FROM ({sql}) AS grouped")  # noqa: S608
            params.extend([name, *p])
    out: dict[str, dict[date, int]] = {name: {} for name in parts}
    with connections[db].cursor() as cursor:
        cursor.execute(" UNION ALL ".join(f"({piece})" for piece in pieces), params)
        for name, d, n in cursor.fetchall():
            if n:
                out[name][d] = n
    return out


def fans_queryset(team, account: OfficialAccount | None = None,
                  activity: Activity | None = None) -> QuerySet:
    qs = Fan.objects.for_team(team)
    if account is not None:
        qs = qs.filter(account=account)
    if activity is not None:
        qs = qs.filter(source=Fan.Source.CAMPAIGN, source_ref=str(activity.pk))
    return qs


def _scoped(model, team, account, activity, *, account_field="account", activity_field="activity"):
    qs = model.objects.for_team(team)
    if account is not None:
        qs = qs.filter(**{account_field: account})
    if activity is not None:
        qs = qs.filter(**{activity_field: activity})
    return qs


def rolled_split(team, start: date, end: date, live: bool = False) -> date:
    """The first day of ``start``..``end`` counted live (the days before come from the
    roll-ups); ``live`` counts every day live."""
    if live:
        return start
    from mediabao.stats.rollup import rolled_until

    return max(start, min(rolled_until(team.pk), end + timedelta(days=1)))


def report(team, start: date, end: date, *, account: OfficialAccount | None = None,
           activity: Activity | None = None, top: int = TOP_INVITERS, daily_only: bool = False,
           live: bool = False) -> Report:
    """Everything the statistics page shows, in ten queries whatever the range (roll-ups
    for the settled days, one statement of live counts, two for the top inviters, one for
    the levels, four for the promo codes).

    ``account`` and ``activity`` must already be the team's (views resolve them with
    ``get_for_team_or_404``); every query is also scoped to ``team``. ``daily_only``
    skips the top inviters, levels and promo codes (for the CSV of the daily table).
    ``live`` ignores the roll-ups (the tests compare both).
    """
    span = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    days = {d: Day(d) for d in span}

    def fill(rows, name):
        for day, n in rows:
            if day in days:  # always true; guards a database returning another zone's day
                setattr(days[day], name, n)

    split = rolled_split(team, start, end, live)
    if split > start:
        from mediabao.stats.models import DailyStat

        rolled = DailyStat.objects.filter(team=team, day__gte=start, day__lt=split)
        rolled = rolled.filter(activity=activity) if activity is not None else rolled.filter(
            activity__isnull=True)
        if account is not None:
            rolled = rolled.filter(account=account)
        names = ("new_fans", "unfollows", "joined", "assists", "tiers")
        for row in rolled.values("day").annotate(**{n: Sum(n) for n in names}).order_by():
            for name in names:
                setattr(days[row["day"]], name, row[name])
    participants = _scoped(Participant, team, account, activity)
    assists = _scoped(Assist, team, account, activity)
    if split <= end:  # usually today alone: one statement of plain counts
        lo, hi = bounds(split, end)
        fans = fans_queryset(team, account, activity)
        claims = _scoped(RewardClaim, team, account, activity, account_field="participant__account",
                         activity_field="tier__activity")
        found = live_counts({
            "new_fans": (fans, "subscribe_time"),
            "unfollows": (fans.filter(subscribed=False), "unsubscribe_time"),
            "joined": (participants.filter(joined=True), "joined_at"),
            "assists": (assists, "created_at"),
            "tiers": (claims, "created_at"),
        }, lo, hi, day=split if split == end else None)
        for name, per_day in found.items():
            fill(per_day.items(), name)

    ordered = list(days.values())
    totals = Day(end, **{name: sum(getattr(d, name) for d in ordered)
                        for name in ("new_fans", "unfollows", "joined", "assists", "tiers")})
    rep = Report(start=start, end=end, account=account, activity=activity, days=ordered, totals=totals)
    if not daily_only:
        rep.top_inviters = top_inviters(team, start, end, account, activity, split, top)
        rep.levels = levels(team, start, end, account, activity, split)
        rep.channels = channel_breakdown(team, start, end, account, activity, split=split)
    return rep


def top_inviters(team, start: date, end: date, account: OfficialAccount | None, activity: Activity | None,
                 split: date, limit: int) -> list[Inviter]:
    """The inviters with the most assists in the range (ties: the earlier participant first).

    Two queries: the inviters' sums (days before ``split`` from
    :class:`~mediabao.stats.models.InviterDaily`, the rest grouped from the assists, one
    statement), then the ``limit`` participants it names.
    """
    from mediabao.stats.models import InviterDaily

    pieces: list[QuerySet] = []
    if split > start:
        rolled = _scoped(InviterDaily, team, account, activity).filter(day__gte=start, day__lt=split)
        pieces.append(rolled.order_by().values_list("inviter_id", "assists"))
    if split <= end:
        lo, hi = bounds(split, end)
        pieces.append(_scoped(Assist, team, account, activity).filter(created_at__gte=lo, created_at__lt=hi)
                      .values("inviter_id").annotate(n=Count("id")).order_by().values_list("inviter_id", "n"))
    top = _union_sum(pieces, "inviter_id", "SUM(n) DESC, inviter_id", limit)
    if not top:
        return []
    people = {p.pk: p for p in Participant.objects.filter(pk__in=[pk for pk, _n in top])
              .select_related("activity").only("nickname", "openid", "invites", "activity__name")}
    return [Inviter(participant=pk, nickname=people[pk].nickname, openid=people[pk].openid,
                    activity=people[pk].activity_id, activity_name=people[pk].activity.name,
                    assists=n, invites=people[pk].invites)
            for pk, n in top if pk in people]


def _union_sum(pieces: list[QuerySet], key: str, order: str, limit: int | None = None
               ) -> list[tuple[int, int]]:
    """``(key, SUM(n))`` over the ``(key, n)`` rows of ``pieces`` (roll-ups and live rows),
    in one statement, zero sums left out. ``key`` and ``order`` are this module's own words."""
    sql, params = [], []
    for piece in pieces:
        q, p = piece.query.sql_with_params()
        sql.append(f"({q})")
        params.extend(p)
    tail = ""
    if limit is not None:
        tail = " LIMIT %s"
        params.append(limit)
    with connections[Participant.objects.db].cursor() as cursor:
        cursor.execute(f"SELECT {key}, SUM(n) FROM ({' UNION ALL '.join(sql)}) AS found ({key}, n) "  # noqa: S608
                       f"GROUP BY {key} HAVING SUM(n) > 0 ORDER BY {order}{tail}", params)
        return [(k, int(n)) for k, n in cursor.fetchall()]


def levels(team, start: date, end: date, account: OfficialAccount | None, activity: Activity | None,
           split: date) -> list[tuple[int, int]]:
    """Fission-level distribution: ``(level, participants)`` of those first seen in the range.

    Level 1 is a fan who joined by keyword; level n+1 was brought by a level-n inviter.
    The days before ``split`` come from :class:`~mediabao.stats.models.LevelDaily`, the
    rest from the participants; both in one statement.
    """
    from mediabao.stats.models import LevelDaily

    pieces: list[QuerySet] = []
    if split > start:
        rolled = _scoped(LevelDaily, team, account, activity).filter(day__gte=start, day__lt=split)
        pieces.append(rolled.order_by().values_list("level", "participants"))
    if split <= end:
        lo, hi = bounds(split, end)
        pieces.append(_scoped(Participant, team, account, activity)
                      .filter(created_at__gte=lo, created_at__lt=hi).values("level")
                      .annotate(n=Count("id")).order_by().values_list("level", "n"))
    return _union_sum(pieces, "level", "level")


def channel_breakdown(team, start: date, end: date, account: OfficialAccount | None,
                      activity: Activity | None, split: date | None = None) -> list[dict]:
    """Per promo code: new fans and unfollows (promo codes are not part of an activity)."""
    if activity is not None:
        return []
    from mediabao.channels.selectors import breakdown

    return breakdown(team, start, end, account.pk if account is not None else None, split=split)
