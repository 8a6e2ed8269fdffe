"""How long the page's queries take on a large team — a measurement, not part of the suite.

Run explicitly: ``STATS_SCALE=300000 pytest mediabao/stats/tests/scale_check.py -s``.

Skipped by default (it inserts hundreds of thousands of rows). Prints the timings and
the plans, for the report and for choosing indexes.
"""

from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mediabao.stats import selectors
from mediabao.stats.tests.conftest import SH

N = int(os.environ.get("STATS_SCALE", "100000"))
pytestmark = [pytest.mark.django_db]


def clone(row, n: int, overrides: dict[str, str], params: list) -> None:
    """``n`` copies of ``row`` made by the database (``generate_series``), some columns
    replaced by SQL expressions of the series number ``g``."""
    model = type(row)
    cols = [f.column for f in model._meta.concrete_fields if not f.primary_key]
    exprs = [overrides.get(c, f't."{c}"') for c in cols]
    names = ", ".join(f'"{c}"' for c in cols)
    sql = (f'INSERT INTO "{model._meta.db_table}" ({names}) '
           f'SELECT {", ".join(exprs)} FROM "{model._meta.db_table}" t, generate_series(1, {int(n)}) g '
           f"WHERE t.id = {int(row.pk)}")
    with connection.cursor() as cur:
        cur.execute(sql, params)


def test_scale(team_a, acct, acct2, make_activity, capsys):
    from mediabao.campaigns.models import Assist, Participant
    from mediabao.fans.models import Fan

    origin = datetime(2025, 6, 1, tzinfo=SH)
    fan = Fan.objects.create(team=team_a, account=acct, openid="template", subscribe_time=origin)
    activity = make_activity(start=origin, end=origin + timedelta(days=400))
    seed = Participant.objects.create(team=team_a, activity=activity, account=acct, openid="seed")
    assist = Assist.objects.create(team=team_a, activity=activity, account=acct, inviter=seed,
                                   fan_openid="template")
    n_part = N // 3
    # a pseudo-random second within the year from the series number g
    when = "%s::timestamptz + ((g::bigint * 7919) %% 31622400) * interval '1 second'"
    clone(fan, N, {"openid": "'o' || g", "account_id": f"CASE WHEN g %% 3 = 0 THEN {acct2.pk} "
                   f"ELSE {acct.pk} END", "subscribe_time": when,
                   "subscribed": "g %% 5 <> 0",
                   "unsubscribe_time": f"CASE WHEN g %% 5 = 0 THEN {when} + interval '5 hours' END"},
          [origin, origin])
    clone(seed, n_part, {"openid": "'p' || g", "level": "1 + g %% 6", "joined": "g %% 2 = 0",
                         "created_at": when, "joined_at": f"CASE WHEN g %% 2 = 0 THEN {when} END"},
          [origin, origin])
    first = Participant.objects.filter(activity=activity).order_by("pk").values_list("pk", flat=True)[1]
    clone(assist, n_part, {"fan_openid": "'p' || g", "created_at": when,
                           "inviter_id": f"{first} + (g * 31) %% 1000"}, [origin])
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    end = date(2026, 6, 1)
    out, slow = [], []
    for days in (30, 366):
        for kw in ({}, {"account": acct}, {"activity": activity}):
            t0 = time.perf_counter()
            with CaptureQueriesContext(connection) as q:
                selectors.report(team_a, end - timedelta(days=days - 1), end, **kw)
            ms = (time.perf_counter() - t0) * 1000
            out.append(f"{days:>3} days {sorted(kw) or ['team']}: {ms:7.1f} ms, {len(q)} queries")
            if not kw:
                slow += sorted(q.captured_queries, key=lambda c: -float(c["time"]))[:3]
    with connection.cursor() as cur:
        plans = []
        for c in slow:
            cur.execute("EXPLAIN ANALYZE " + c["sql"])
            lines = [r[0] for r in cur.fetchall()]
            plans.append(c["sql"][:110] + "\n" + "\n".join(
                line for line in lines if "Scan" in line or "Execution" in line))
    with capsys.disabled():
        print(f"\n{N} fans, {n_part} participants, {n_part} assists")
        print("\n".join(out))
        print("\n\n".join(plans))
