"""Keeping the daily roll-ups (:class:`DailyStat`, :class:`ChannelDaily`, :class:`LevelDaily`,
:class:`InviterDaily`) current.

A refresh recomputes whole local days of one team from the source rows, with the same
queries the live statistics run, and replaces those days' rows in one transaction, so
running it twice changes nothing and its figures equal the live ones.

* Every minute (beat ``stats-rollup-recent``): yesterday and today of the teams with
  new rows since yesterday; a team that has no roll-up yet, or fell behind, is caught
  up 31 days per run.
* Every night (beat ``stats-rollup-settle``): the last :data:`SETTLE_DAYS` days of
  every team with roll-ups. Source rows can move between past days — a fan who follows
  again moves from the day of the old follow to today, an assist changes the fan's
  source — and this brings such days back in line.
* ``manage.py stats_rollup``: a backfill or rebuild of any range (e.g. after a fan
  sync imported followers of long ago).

Readers (:func:`rolled_until`) use the roll-ups only for days before both the team's
``complete_before`` and yesterday: yesterday and today are always counted live.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Count, Min, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from mediabao.campaigns.models import Assist, Participant, RewardClaim
from mediabao.channels.models import ChannelFollow, ChannelScan
from mediabao.fans.models import Fan
from mediabao.stats.models import ChannelDaily, DailyStat, InviterDaily, LevelDaily, RollupState
from mediabao.stats.selectors import TZ, bounds, today

log = logging.getLogger(__name__)

#: Days re-rolled every night (older days keep the figures they were rolled up with).
SETTLE_DAYS = 62
#: The most days one team is caught up by in one run of the minute task.
CATCH_UP_CHUNK = 31
#: Days at the end of any range that readers always count live (today: the minute task
#: rolls yesterday and today up again while they change, so yesterday is current too).
LIVE_DAYS = 1

_FIGURES = ("new_fans", "unfollows", "joined", "assists", "assist_unfollows", "tiers")


def _grouped(queryset: QuerySet, column: str, lo: datetime, hi: datetime, *keys: str):
    """``(*keys, day, n)`` rows of ``queryset`` whose ``column`` is in ``[lo, hi)``."""
    return (queryset.filter(**{f"{column}__gte": lo, f"{column}__lt": hi})
            .annotate(day=TruncDate(column, tzinfo=TZ)).values(*keys, "day")
            .annotate(n=Count("id")).order_by().values_list(*keys, "day", "n"))


def compute(team_id: int, start: date, end: date
            ) -> tuple[list[DailyStat], list[ChannelDaily], list[LevelDaily], list[InviterDaily]]:
    """The roll-up rows of ``start``..``end`` (unsaved), from the source rows."""
    lo, hi = bounds(start, end)
    cells: dict[tuple[int, int | None, date], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(_FIGURES, 0))

    def add(account_id: int, activity_id: int | None, day: date, name: str, n: int) -> None:
        cells[(account_id, None, day)][name] += n
        if activity_id is not None:
            cells[(account_id, activity_id, day)][name] += n

    fans = Fan.objects.filter(team_id=team_id)
    for account_id, day, n in _grouped(fans, "subscribe_time", lo, hi, "account_id"):
        cells[(account_id, None, day)]["new_fans"] += n
    for account_id, day, n in _grouped(fans.filter(subscribed=False), "unsubscribe_time", lo, hi,
                                       "account_id"):
        cells[(account_id, None, day)]["unfollows"] += n
    from mediabao.campaigns.models import Activity

    activity_ids = {str(pk): pk for pk in
                    Activity.objects.filter(team_id=team_id).values_list("pk", flat=True)}
    campaign_fans = fans.filter(source=Fan.Source.CAMPAIGN, source_ref__in=list(activity_ids))
    for account_id, ref, day, n in _grouped(campaign_fans, "subscribe_time", lo, hi, "account_id",
                                            "source_ref"):
        cells[(account_id, activity_ids[ref], day)]["new_fans"] += n
    for account_id, ref, day, n in _grouped(campaign_fans.filter(subscribed=False), "unsubscribe_time",
                                            lo, hi, "account_id", "source_ref"):
        cells[(account_id, activity_ids[ref], day)]["unfollows"] += n

    joined = Participant.objects.filter(team_id=team_id, joined=True)
    for account_id, activity_id, day, n in _grouped(joined, "joined_at", lo, hi, "account_id", "activity_id"):
        add(account_id, activity_id, day, "joined", n)
    assists = Assist.objects.filter(team_id=team_id)
    for account_id, activity_id, day, n in _grouped(assists, "created_at", lo, hi, "account_id",
                                                    "activity_id"):
        add(account_id, activity_id, day, "assists", n)
    for account_id, activity_id, day, n in _grouped(assists, "unfollowed_at", lo, hi, "account_id",
                                                    "activity_id"):
        add(account_id, activity_id, day, "assist_unfollows", n)
    claims = RewardClaim.objects.filter(team_id=team_id)
    for account_id, activity_id, day, n in _grouped(claims, "created_at", lo, hi, "participant__account_id",
                                                    "tier__activity_id"):
        add(account_id, activity_id, day, "tiers", n)

    stats = [DailyStat(team_id=team_id, account_id=acc, activity_id=act, day=day, **values)
             for (acc, act, day), values in cells.items() if any(values.values())]

    channel_cells: dict[tuple[int, int, date], dict[str, int]] = defaultdict(
        lambda: {"new": 0, "unfollowed": 0, "scans": 0})
    follows = ChannelFollow.objects.filter(team_id=team_id)
    for channel_id, account_id, day, n in (follows.filter(follow_day__range=(start, end))
                                           .values("channel_id", "account_id", "follow_day")
                                           .annotate(n=Count("id")).order_by()
                                           .values_list("channel_id", "account_id", "follow_day", "n")):
        channel_cells[(channel_id, account_id, day)]["new"] += n
    for channel_id, account_id, day, n in (follows.filter(unfollow_day__range=(start, end))
                                           .values("channel_id", "account_id", "unfollow_day")
                                           .annotate(n=Count("id")).order_by()
                                           .values_list("channel_id", "account_id", "unfollow_day", "n")):
        channel_cells[(channel_id, account_id, day)]["unfollowed"] += n
    scans = ChannelScan.objects.filter(team_id=team_id, scan_day__range=(start, end))
    keys = ("channel_id", "channel__account_id", "scan_day")
    for channel_id, account_id, day, n in (scans.values(*keys).annotate(n=Count("id")).order_by()
                                           .values_list(*keys, "n")):
        channel_cells[(channel_id, account_id, day)]["scans"] += n
    channels = [ChannelDaily(team_id=team_id, channel_id=ch, account_id=acc, day=day, **values)
                for (ch, acc, day), values in channel_cells.items()]
    levels = [LevelDaily(team_id=team_id, account_id=acc, activity_id=act, level=level, day=day,
                         participants=n)
              for acc, act, level, day, n in _grouped(Participant.objects.filter(team_id=team_id),
                                                      "created_at", lo, hi, "account_id", "activity_id",
                                                      "level")]
    inviters = [InviterDaily(team_id=team_id, inviter_id=inviter, account_id=acc, activity_id=act, day=day,
                             assists=n)
                for inviter, acc, act, day, n in _grouped(assists, "created_at", lo, hi, "inviter_id",
                                                          "account_id", "activity_id")]
    return stats, channels, levels, inviters


def refresh(team_id: int, start: date, end: date) -> int:
    """Replace the roll-ups of ``start``..``end`` (local days) of one team; returns rows written."""
    rows = compute(team_id, start, end)
    with transaction.atomic():
        for model in (DailyStat, ChannelDaily, LevelDaily, InviterDaily):
            model.objects.filter(team_id=team_id, day__range=(start, end)).delete()
        for made in rows:
            if made:
                type(made[0]).objects.bulk_create(made, batch_size=2000)
    return sum(len(made) for made in rows)


def first_day(team_id: int) -> date | None:
    """The earliest local day any source row of the team falls on (None: no rows)."""
    found = [
        Fan.objects.filter(team_id=team_id).aggregate(v=Min("subscribe_time"))["v"],
        Fan.objects.filter(team_id=team_id, unsubscribe_time__isnull=False, subscribed=False)
        .aggregate(v=Min("unsubscribe_time"))["v"],
        Participant.objects.filter(team_id=team_id).aggregate(v=Min("created_at"))["v"],
        Assist.objects.filter(team_id=team_id).aggregate(v=Min("created_at"))["v"],
    ]
    days = [v.astimezone(TZ).date() for v in found if v is not None]
    chan = ChannelFollow.objects.filter(team_id=team_id).aggregate(v=Min("follow_day"))["v"]
    if chan is not None:
        days.append(chan)
    return min(days) if days else None


def build(team_id: int, start: date | None = None, end: date | None = None,
          chunk: int | None = None) -> date | None:
    """Roll up ``start``..``end`` (default: from the team's first row to today), in chunks
    of ``chunk`` days (all when None), and move the team's ``complete_before``.
    Returns the last day rolled up (None: nothing to do)."""
    now_day = today()
    end = min(end or now_day, now_day)
    if start is None:
        state = RollupState.objects.filter(team_id=team_id).first()
        start = state.complete_before if state else first_day(team_id)
        if start is None:  # no rows at all: nothing to roll up, the team is complete
            _mark(team_id, now_day + timedelta(days=1), only_forward=False)
            return None
        start = min(start, now_day - timedelta(days=LIVE_DAYS - 1))
    if chunk is not None:
        end = min(end, start + timedelta(days=chunk - 1))
    if end < start:
        return None
    day = start
    while day <= end:  # a month per transaction keeps each one short
        last = min(end, day + timedelta(days=30))
        refresh(team_id, day, last)
        day = last + timedelta(days=1)
    _mark(team_id, end + timedelta(days=1), only_forward=True, since=start)
    return end


def _mark(team_id: int, complete_before: date, *, only_forward: bool, since: date | None = None) -> None:
    """Record how far the team's roll-ups reach. A rebuild of a later range does not
    claim the days before it unless they were already rolled up."""
    now = timezone.now()
    state = RollupState.objects.filter(team_id=team_id).first()
    if state is None:
        if since is not None and only_forward:
            first = first_day(team_id)
            if first is not None and first < since:
                return  # a partial rebuild of a team never rolled up: readers stay live
        RollupState.objects.create(team_id=team_id, complete_before=complete_before, refreshed_at=now)
        return
    if since is not None and since > state.complete_before:
        return  # a gap would open: keep the old mark
    if complete_before > state.complete_before or not only_forward:
        state.complete_before = complete_before
    state.refreshed_at = now
    state.save(update_fields=["complete_before", "refreshed_at"])


def active_teams(since: datetime) -> set[int]:
    """Teams with rows written since ``since``: per team with an account, a few index
    probes (each ``EXISTS`` on an index that leads with the team): WeChat events (follows,
    unfollows, scans, assists all arrive as one), participants made or joined (web
    OAuth), followers whose follow time moved (syncs)."""
    from mediabao.wechat.models import Event, OfficialAccount

    teams: set[int] = set()
    for team_id in OfficialAccount.objects.order_by().values_list("team_id", flat=True).distinct():
        if (Event.objects.filter(team_id=team_id, received_at__gte=since).exists()
                or Participant.objects.filter(team_id=team_id, created_at__gte=since).exists()
                or Participant.objects.filter(team_id=team_id, joined=True, joined_at__gte=since).exists()
                or Fan.objects.filter(team_id=team_id, subscribe_time__gte=since).exists()
                or Fan.objects.filter(team_id=team_id, subscribed=False,
                                      unsubscribe_time__gte=since).exists()):
            teams.add(team_id)
    return teams


def refresh_recent() -> dict[int, str]:
    """The minute task: yesterday and today of active teams; lagging teams caught up."""
    now_day = today()
    yesterday = now_day - timedelta(days=1)
    since, _hi = bounds(yesterday, yesterday)
    done: dict[int, str] = {}
    for team_id in sorted(active_teams(since)):
        state = RollupState.objects.filter(team_id=team_id).first()
        if state is None or state.complete_before < yesterday:
            last = build(team_id, chunk=CATCH_UP_CHUNK)
            done[team_id] = f"caught up to {last}"
            if last is None or last < now_day:
                continue
        refresh(team_id, yesterday, now_day)
        _mark(team_id, now_day + timedelta(days=1), only_forward=True, since=yesterday)
        done[team_id] = "recent"
    return done


def settle() -> int:
    """The nightly task: the last :data:`SETTLE_DAYS` days of every team with roll-ups."""
    now_day = today()
    start = now_day - timedelta(days=SETTLE_DAYS - 1)
    teams = list(RollupState.objects.values_list("team_id", flat=True))
    for team_id in teams:
        build(team_id)  # a team that fell behind first catches up
        day = start
        while day <= now_day:
            last = min(now_day, day + timedelta(days=30))
            refresh(team_id, day, last)
            day = last + timedelta(days=1)
    return len(teams)


def rolled_until(team_id: int) -> date:
    """Readers use the roll-ups for days before this one and count the rest live."""
    live_from = today() - timedelta(days=LIVE_DAYS - 1)
    state = RollupState.objects.filter(team_id=team_id).values_list("complete_before", flat=True).first()
    if state is None:
        return date.min
    return min(state, live_from)
