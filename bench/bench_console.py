"""Benchmark the console at scale: every list and statistics page, p50/p95 and SQL queries.

    .venv/bin/python -m bench.bench_console [--quick] [--fans N] [--repeats N] [--no-write]
                                            [--data-dir DIR] [--keep]

One team with N fans (1,000,000; 100,000 with ``--quick``), N/10 participants with their
assists and 2N events, loaded with ``INSERT … SELECT … FROM generate_series`` into a
private embedded PostgreSQL (/tmp/conb-*; ``--data-dir`` reuses a loaded one, ``--keep``
keeps it). The pages are requested through Django's test client in this process
(middleware, templates, sessions in Redis: the whole request, without gunicorn), each
once to warm up and then ``--repeats`` times; the SQL queries of one request are counted
with ``CaptureQueriesContext``. Goals (issue 7): p95 < 300 ms and at most 20 queries on
every page. The statistics pages count today (Asia/Shanghai) live and the days before from
the roll-ups, so their cost grows through the local day: the section records the local time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench._stats import pct
from mediabao import embedded

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
PY = sys.executable
GOAL_P95_MS = 300.0
GOAL_QUERIES = 20
NOTES_MARKER = "<!-- console: hand-written notes below survive re-runs -->"
Row = tuple[str, str, str, str, str]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}Z] {msg}", flush=True)



def mediabao_cmd() -> list[str]:
    script = Path(PY).parent / "mediabao"
    return [str(script)] if script.exists() else [PY, "-c", "from mediabao.cli import main; main()"]


# --- loading ---------------------------------------------------------------------------------
def insert_series(model, n: int, exprs: dict[str, str], start: int = 1) -> int:
    """``INSERT INTO <model> SELECT … FROM generate_series(start, start+n-1) AS g``: the
    given SQL expressions (of ``g``) by column name, every other column its model default."""
    from django.db import connection

    cols, values, params = [], [], []
    for f in model._meta.concrete_fields:
        if f.primary_key and f.column not in exprs:
            continue
        cols.append(connection.ops.quote_name(f.column))
        if f.column in exprs:
            values.append(exprs[f.column].replace("%", "%%"))
        elif f.has_default() or f.null:
            default = f.get_default() if f.has_default() else None
            values.append(f"CAST(%s AS {f.db_type(connection)})")
            params.append(f.get_db_prep_save(default, connection) if default is not None else None)
        elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            values.append("now()")
        elif f.blank and f.get_internal_type() in ("CharField", "TextField", "URLField"):
            values.append("''")
        else:
            raise ValueError(f"{model.__name__}.{f.name} needs a value")
    sql = (f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({', '.join(cols)}) "
           f"SELECT {', '.join(values)} FROM generate_series({int(start)}, {int(start + n - 1)}) AS g")
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.rowcount


def load(n_fans: int) -> dict:
    """One team, one account and its data; returns the ids the pages need."""
    from django.db import connection, transaction
    from django.utils import timezone

    from mediabao.accounts import services as accounts
    from mediabao.campaigns.models import Activity, Assist, AwardTier, Participant
    from mediabao.channels.models import Channel, ChannelFollow
    from mediabao.fans.models import Fan
    from mediabao.keywords.models import KeywordRule
    from mediabao.messaging.models import Recipient, SendJob
    from mediabao.wechat.models import Event, OfficialAccount

    n_events, n_participants = 2 * n_fans, n_fans // 10
    n_channels, n_jobs, n_recipients = 50, 60, min(100_000, n_fans)
    t0 = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET LOCAL synchronous_commit = off")
        user = accounts.sign_up(username="console-bench", password="Bench-Passw0rd-123",
                                team_name="console bench")
        team = user.current_team
        ids: dict = {"user": user.pk, "team": team.pk}
        acct = OfficialAccount.objects.create(
            team=team, appid="wxconsolebench01", name="控制台基准号", kind="service", verified=True,
            auth_mode="developer", appsecret="unused", callback_token="t" * 16)
        OfficialAccount.objects.create(team=team, appid="wxconsolebench02", name="第二个号",
                                       kind="subscription", auth_mode="developer",
                                       appsecret="unused", callback_token="t" * 16)
        ids["account"] = acct.pk
        t, a, now = team.pk, acct.pk, "now()"
        openid = "'oCB' || lpad(({x})::text, 25, '0')"
        insert_series(Channel, n_channels, {
            "team_id": str(t), "account_id": str(a), "name": "'渠道 ' || g", "scene_str": "'ch_' || g",
            "ticket": "'tk' || g", "url": "'http://weixin.qq.com/q/ch' || g",
            "created_at": f"{now} - g * interval '1 hour'"})
        ch_ids = list(Channel.objects.filter(team=team).order_by("id").values_list("id", flat=True))
        ids["channel"] = ch_ids[0]
        ch0 = ch_ids[0]
        log(f"fans: {n_fans:,}")
        insert_series(Fan, n_fans, {
            "team_id": str(t), "account_id": str(a), "openid": openid.format(x="g"),
            "subscribed": "g % 10 <> 0",
            "subscribe_time": f"{now} - (g % 7776000) * interval '1 second' - interval '1 minute'",
            "unsubscribe_time": f"CASE WHEN g % 10 = 0 THEN {now} - (g % 86400) * interval '1 second' END",
            "nickname": "'粉丝' || g", "tags": "ARRAY[g % 7]",
            "source": "CASE g % 20 WHEN 0 THEN 'channel' WHEN 1 THEN 'campaign' ELSE 'other' END",
            "source_ref": f"CASE WHEN g % 20 = 0 THEN ({ch0} + (g / 20) % {n_channels})::text ELSE '' END",
            "last_interaction_at": f"{now} - (g % 500000) * interval '1 second'",
            "message_window_until": f"CASE WHEN g % 97 = 0 THEN {now} + interval '1 day' END",
            "message_window_left": "CASE WHEN g % 97 = 0 THEN 5 ELSE 0 END"})
        log(f"channel follows: {n_fans // 20:,}")
        insert_series(ChannelFollow, n_fans // 20, {
            "team_id": str(t), "account_id": str(a), "channel_id": f"{ch0} + g % {n_channels}",
            "openid": openid.format(x="g * 20"),
            "followed_at": f"{now} - (g * 20 % 7776000) * interval '1 second'",
            "follow_day": f"({now} - (g * 20 % 7776000) * interval '1 second')::date",
            "unfollowed_at": f"CASE WHEN g % 10 = 0 THEN {now} END",
            "unfollow_day": f"CASE WHEN g % 10 = 0 THEN {now}::date END"})
        log(f"events: {n_events:,}")
        kinds = ("CASE g % 10 WHEN 0 THEN 'subscribe' WHEN 1 THEN 'unsubscribe' WHEN 2 THEN 'SCAN' "
                 "WHEN 3 THEN 'CLICK' ELSE '' END")
        insert_series(Event, n_events, {
            "team_id": str(t), "account_id": str(a), "openid": openid.format(x=f"1 + g % {n_fans}"),
            "msg_type": "CASE WHEN g % 10 < 4 THEN 'event' ELSE 'text' END", "event": kinds,
            "payload": "jsonb_build_object('Content', 'hello ' || g)", "create_time": "1700000000 + g",
            "dedup_key": "'b:' || g",
            "received_at": f"{now} - (g::bigint * 7776000 / {n_events}) * interval '1 second'"})
        activity = _activity(Activity, AwardTier, team, acct, "裂变活动")
        small = _activity(Activity, AwardTier, team, acct, "小活动")
        ids["activity"] = activity.pk
        seeds = max(10, n_participants // 100)
        log(f"participants: {n_participants:,} ({seeds:,} seeds), assists")
        insert_series(Participant, n_participants, {
            "team_id": str(t), "account_id": str(a),
            "activity_id": f"CASE WHEN g % 50 = 0 THEN {small.pk} ELSE {activity.pk} END",
            "openid": openid.format(x="g"), "nickname": "'粉丝' || g",
            "level": f"CASE WHEN g <= {seeds} THEN 1 ELSE 2 END",
            "joined": f"g <= {seeds} OR g % 5 = 0", "following": "g % 13 <> 0",
            "blacklisted": "g % 997 = 0", "flagged": "g % 499 = 0",
            "tiers_completed": f"CASE WHEN g <= {seeds} THEN 2 ELSE 0 END",
            "created_at": f"{now} - (g % 2592000) * interval '1 second'",
            "joined_at": f"CASE WHEN g <= {seeds} OR g % 5 = 0 THEN {now} END"})
        first = Participant.objects.filter(team=team).order_by("id").values_list("id", flat=True)[0]
        with connection.cursor() as cur:
            # the first `seeds` participants invited all others, round robin
            cur.execute(
                f"UPDATE {Participant._meta.db_table} SET inviter_id = %s + (id - %s) %% %s "
                f"WHERE team_id = %s AND id >= %s + %s", [first, first, seeds, t, first, seeds])
        with connection.cursor() as cur:
            cur.execute(
                f"INSERT INTO {Assist._meta.db_table} (team_id, activity_id, inviter_id, account_id, "
                f"fan_openid, created_at, counted, applied) SELECT p.team_id, p.activity_id, p.inviter_id, "
                f"p.account_id, p.openid, p.created_at, true, true FROM {Participant._meta.db_table} p "
                f"JOIN {Participant._meta.db_table} i "
                f"ON i.id = p.inviter_id AND i.activity_id = p.activity_id "
                f"WHERE p.team_id = %s", [t])
            cur.execute(
                f"UPDATE {Participant._meta.db_table} p SET invites = c.n FROM (SELECT inviter_id, "
                f"count(*) AS n FROM {Assist._meta.db_table} WHERE team_id = %s GROUP BY inviter_id) c "
                f"WHERE p.id = c.inviter_id", [t])
        ids["participant"] = first
        insert_series(KeywordRule, 50, {
            "team_id": str(t), "account_id": str(a), "keyword": "'关键词' || g", "text": "'回复 ' || g",
            "position": "g"})
        log(f"send jobs: {n_jobs}, one with {n_recipients:,} recipients")
        insert_series(SendJob, n_jobs, {
            "team_id": str(t), "account_id": str(a), "created_by_id": str(user.pk),
            "name": "'群发 ' || g", "kind": "'template'", "state": "'done'",
            "total": str(n_recipients), "sent": str(n_recipients),
            "created_at": f"{now} - g * interval '1 day'"})
        job = SendJob.objects.filter(team=team).order_by("-created_at").first()
        ids["job"] = job.pk
        insert_series(Recipient, n_recipients, {
            "job_id": str(job.pk), "openid": openid.format(x="g"), "fan_id": "g",
            "state": "CASE WHEN g % 50 = 0 THEN 'failed' WHEN g % 71 = 0 THEN 'skipped' ELSE 'sent' END",
            "channel": "'template'", "errcode": "CASE WHEN g % 50 = 0 THEN 43004 END",
            "reason": "CASE WHEN g % 50 <> 0 AND g % 71 = 0 THEN 'unsubscribed' ELSE '' END",
            "msgid": "g::text", "delivery": "CASE WHEN g % 3 = 0 THEN 'success' ELSE '' END",
            "attempts": "1", "updated_at": now})
        ids["fan_openid"] = f"oCB{12345:025d}"
        ids["job_openid"] = f"oCB{777:025d}"
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    ids["load_seconds"] = time.perf_counter() - t0
    ids["now"] = timezone.now()
    return ids


def _activity(Activity, AwardTier, team, acct, name: str):  # noqa: N803 - model classes
    from django.utils import timezone

    now = timezone.now()
    activity = Activity.objects.create(team=team, name=name, start_time=now - timedelta(days=30),
                                       end_time=now + timedelta(days=30), join_keyword=name[:4],
                                       rules="规则")
    activity.accounts.add(acct)
    for level, need in ((1, 3), (2, 10), (3, 50)):
        AwardTier.objects.create(team=team, activity=activity, level=level, invites_needed=need,
                                 prize=f"奖品{level}", stock=100, remaining=100)
    return activity


def find_ids() -> dict:
    """The ids of an already loaded benchmark database (``--data-dir``)."""
    from mediabao.accounts.models import Team
    from mediabao.campaigns.models import Activity, Participant
    from mediabao.channels.models import Channel
    from mediabao.messaging.models import SendJob
    from mediabao.wechat.models import OfficialAccount

    team = Team.objects.get(name="console bench")
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="console-bench")
    return {
        "user": user.pk, "team": team.pk,
        "account": OfficialAccount.objects.get(appid="wxconsolebench01").pk,
        "channel": Channel.objects.filter(team=team).order_by("id").values_list("id", flat=True)[0],
        "activity": Activity.objects.get(team=team, name="裂变活动").pk,
        "participant": Participant.objects.filter(team=team).order_by("id").values_list("id", flat=True)[0],
        "job": SendJob.objects.filter(team=team).order_by("-created_at").values_list("id", flat=True)[0],
        "fan_openid": f"oCB{12345:025d}", "job_openid": f"oCB{777:025d}", "load_seconds": 0.0,
    }


def rollup(team_id: int) -> float | None:
    """Build the daily statistics roll-ups as the nightly task would (when the command exists)."""
    from django.core.management import call_command, get_commands

    if "stats_rollup" not in get_commands():
        return None
    t0 = time.perf_counter()
    call_command("stats_rollup", team=[team_id], all=True, verbosity=0)
    seconds = time.perf_counter() - t0
    log(f"statistics roll-ups built in {seconds:.1f} s")
    return seconds


# --- pages -----------------------------------------------------------------------------------
def pages(ids: dict, today) -> list[tuple[str, str]]:
    a, ch, act, p, job = ids["account"], ids["channel"], ids["activity"], ids["participant"], ids["job"]
    d30, d90 = (today - timedelta(days=29)).isoformat(), (today - timedelta(days=89)).isoformat()
    end = today.isoformat()
    return [
        ("dashboard", "/console/"),
        ("accounts: list", "/console/mp/"),
        ("accounts: detail", f"/console/mp/{a}/"),
        ("fans: list", "/console/fans/"),
        ("fans: following", "/console/fans/?following=1"),
        ("fans: unfollowed", "/console/fans/?following=0"),
        ("fans: in 48 h window", "/console/fans/?in_window=1"),
        ("fans: source promo code", "/console/fans/?source=channel"),
        ("fans: tag", "/console/fans/?tag=3"),
        ("fans: one promo code", f"/console/fans/?channel={ch}"),
        ("fans: account", f"/console/fans/?account={a}"),
        ("fans: search nickname", "/console/fans/?q=粉丝12345"),
        ("fans: search OpenID", f"/console/fans/?q={ids['fan_openid']}"),
        ("fans: page 100", "/console/fans/?page=100"),
        ("events: log", f"/console/mp/{a}/events/"),
        ("events: kind subscribe", f"/console/mp/{a}/events/?kind=subscribe"),
        ("events: one fan", f"/console/mp/{a}/events/?openid={ids['fan_openid']}"),
        ("events: page 100", f"/console/mp/{a}/events/?page=100"),
        ("activities: list", "/console/campaigns/"),
        ("activities: detail", f"/console/campaigns/{act}/"),
        ("participants: list", "/console/campaigns/participants/"),
        ("participants: activity", f"/console/campaigns/participants/?activity={act}"),
        ("participants: joined", "/console/campaigns/participants/?joined=1"),
        ("participants: flagged", "/console/campaigns/participants/?flagged=1"),
        ("participants: from a poster", "/console/campaigns/participants/?origin=poster"),
        ("participants: tier >= 1", "/console/campaigns/participants/?tier=1"),
        ("participants: search", "/console/campaigns/participants/?q=粉丝4242"),
        ("participants: detail (seed)", f"/console/campaigns/participants/{p}/"),
        ("promo codes: list", "/console/channels/"),
        ("promo codes: detail", f"/console/channels/{ch}/"),
        ("promo codes: detail, 90 days", f"/console/channels/{ch}/?start={d90}&end={end}"),
        ("keywords: list", "/console/keywords/"),
        ("messaging: jobs", "/console/messages/"),
        ("messaging: job detail", f"/console/messages/jobs/{job}/"),
        ("messaging: recipients failed", f"/console/messages/jobs/{job}/?state=failed"),
        ("messaging: recipient search", f"/console/messages/jobs/{job}/?q={ids['job_openid']}"),
        ("messaging: recipients page 100", f"/console/messages/jobs/{job}/?page=100"),
        ("stats: overview", "/console/stats/"),
        ("stats: 30 days", f"/console/stats/?start={d30}&end={end}"),
        ("stats: 90 days", f"/console/stats/?start={d90}&end={end}"),
        ("stats: 90 days, account", f"/console/stats/?start={d90}&end={end}&account={a}"),
        ("stats: 90 days, activity", f"/console/stats/?start={d90}&end={end}&activity={act}"),
    ]


def measure(ids: dict, repeats: int, max_seconds: float, only: str = "") -> list[dict]:
    """Each page: one warm-up request, then ``repeats`` timed ones (bounded in time)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.backends.signals import connection_created
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    def _timeout(sender, connection, **kwargs):  # noqa: ARG001 - a runaway query ends in 30 s
        with connection.cursor() as cur:
            cur.execute("SET statement_timeout = '30s'")

    connection_created.connect(_timeout, weak=False)
    connection.close()
    client = Client(raise_request_exception=False, HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(pk=ids["user"]))
    out = []
    deadline = time.monotonic() + max_seconds
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    for name, url in pages(ids, timezone.localdate()):
        if wanted and not any(name.startswith(w) for w in wanted):
            continue
        client.get(url)  # warm-up (template compilation, connection)
        times, statuses, queries, slowest = [], set(), 0, ("", 0.0)
        for _ in range(repeats):
            with CaptureQueriesContext(connection) as ctx:
                t0 = time.perf_counter()
                resp = client.get(url)
                ms = (time.perf_counter() - t0) * 1000
            times.append(ms)
            statuses.add(resp.status_code)
            queries = max(queries, len(ctx.captured_queries))
            for q in ctx.captured_queries:
                if float(q["time"]) * 1000 > slowest[1]:
                    slowest = (q["sql"], float(q["time"]) * 1000)
            if time.monotonic() > deadline:
                break
        row = {"page": name, "url": url, "n": len(times), "p50": pct(times, 50), "p95": pct(times, 95),
               "queries": queries, "status": ",".join(map(str, sorted(statuses))),
               "slowest_sql_ms": slowest[1], "slowest_sql": slowest[0][:300]}
        row["pass"] = row["p95"] < GOAL_P95_MS and queries <= GOAL_QUERIES and statuses == {200}
        out.append(row)
        log(f"  {name:34s} p50 {row['p50']:7.1f} p95 {row['p95']:7.1f} ms  {queries:3d} queries  "
            f"{row['status']}  slowest SQL {slowest[1]:.0f} ms")
        if time.monotonic() > deadline:
            log("time cap reached: the remaining pages are not measured")
            break
    return out


# --- reporting -------------------------------------------------------------------------------
def table(results: list[dict]) -> str:
    lines = ["| page | URL | requests | p50 ms | p95 ms | SQL queries | slowest query ms | result |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        status = "" if r["status"] == "200" else f" (HTTP {r['status']})"
        lines.append(f"| {r['page']} | `{r['url']}` | {r['n']} | {r['p50']:.1f} | {r['p95']:.1f} | "
                     f"{r['queries']} | {r['slowest_sql_ms']:.0f} | "
                     f"{'PASS' if r['pass'] else 'FAIL'}{status} |")
    return "\n".join(lines)


def summary_rows(res: dict) -> list[Row]:
    """The lines of the ``mediabao bench`` table."""
    pages_ = res["pages"]
    if not pages_:
        return [("console pages", "-", "not measured", "-", "FAIL")]
    worst = max(pages_, key=lambda r: r["p95"])
    most = max(pages_, key=lambda r: r["queries"])
    fails = [r["page"] for r in pages_ if not r["pass"]]
    size = f"{res['fans']:,} fans, {res['participants']:,} participants, {res['events']:,} events"
    return [
        (f"console: slowest of {len(pages_)} pages p95 ({size})", f"< {GOAL_P95_MS:.0f} ms",
         f"{worst['p95']:.0f} ms ({worst['page']})", f"{GOAL_P95_MS / max(worst['p95'], 0.1):.2f}x",
         "PASS" if worst["p95"] < GOAL_P95_MS else "FAIL"),
        ("console: most SQL queries on one page", f"<= {GOAL_QUERIES}",
         f"{most['queries']} ({most['page']})", f"{GOAL_QUERIES / max(most['queries'], 1):.2f}x",
         "PASS" if most["queries"] <= GOAL_QUERIES else "FAIL"),
        ("console: pages meeting both goals", f"{len(pages_)} of {len(pages_)}",
         f"{len(pages_) - len(fails)}" + (f" (failing: {', '.join(fails)})" if fails else ""),
         "-", "PASS" if not fails else "FAIL"),
    ]


def write_doc(cmd: str, res: dict, load: str) -> None:
    cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    local = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%H:%M")
    section = (
        "## Console at scale\n\n"
        f"Command: `{cmd}` (Python {platform.python_version()}, {cpu}, load average {load} at the "
        f"start; measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {local} in "
        "Asia/Shanghai: the statistics count the day so far live, the days before from roll-ups)."
        "\n\n"
        f"One team with {res['fans']:,} fans, {res['participants']:,} campaign participants "
        f"(with their assists), {res['events']:,} events, 50 promo codes and their follows, 60 send "
        f"jobs (one with {res['recipients']:,} recipients), loaded with `INSERT … SELECT … FROM "
        f"generate_series` into the embedded PostgreSQL "
        + (f"in {res['load_seconds']:.0f} s" if res["load_seconds"] else "(an earlier run's, `--data-dir`)")
        + (f", then the daily statistics roll-ups built (`stats_rollup --all`, {res['rollup_seconds']:.0f} s)"
           if res.get("rollup_seconds") is not None else "") + ". Each page "
        f"is requested through Django's test client in the benchmark process (the whole request: "
        f"middleware, session, templates; no gunicorn), once to warm up and then {res['repeats']} "
        "times; SQL queries are counted per request (`CaptureQueriesContext`). Goals (issue 7): "
        f"p95 < {GOAL_P95_MS:.0f} ms and at most {GOAL_QUERIES} queries on every page.\n\n"
        f"{table(res['pages'])}\n\n"
        + "".join(f"- {n}\n" for n in res.get("notes", []))
    )
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Console at scale\n.*?(?=^## |^<!-- bench:|\Z)", re.S | re.M)
    found = pattern.search(text)
    if found:
        old = found.group(0)
        kept = old[old.index(NOTES_MARKER):] if NOTES_MARKER in old else ""
        text = pattern.sub(lambda _m: section + "\n" + (kept.rstrip("\n") + "\n\n" if kept else ""), text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


# --- entry points ----------------------------------------------------------------------------
def _raise_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


def run(quick: bool = False, fans: int | None = None, repeats: int | None = None,
        data_dir: Path | None = None, keep: bool = False, max_seconds: float = 600.0,
        only: str = "") -> dict:
    """Load (or reuse) the data, measure every page; returns ``{"pages": [...], ...}``."""
    n_fans = fans or (100_000 if quick else 1_000_000)
    repeats = repeats or (10 if quick else 20)
    reuse = data_dir is not None and data_dir.exists() and any(data_dir.iterdir())
    own_dir = data_dir is None
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="conb-", dir="/tmp"))
    servers: list[subprocess.Popen] = []
    try:
        log(f"data dir {data_dir}{' (reused)' if reuse else ''}")
        pg, rd, urls = embedded.start_servers(data_dir)
        servers = [rd, pg]
        env = {"MEDIABAO_DATA_DIR": str(data_dir), "DATABASE_URL": urls.database_url,
               "REDIS_URL": urls.redis_url, "DJANGO_SETTINGS_MODULE": "bench.settings_bench",
               "MEDIABAO_LOG_LEVEL": "WARNING", "WXSIM_ENABLED": "0"}
        log("migrating")
        subprocess.run([*mediabao_cmd(), "migrate", "--noinput", "-v", "0"],
                       env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, check=True, cwd=ROOT,
                       timeout=900)
        os.environ.update(env)
        import django

        django.setup()
        from django.contrib.auth import get_user_model

        if get_user_model().objects.filter(username="console-bench").exists():
            ids = find_ids()
            from mediabao.fans.models import Fan

            n_fans = Fan.objects.filter(team_id=ids["team"]).count()
        else:
            log(f"loading {n_fans:,} fans, {n_fans // 10:,} participants, {2 * n_fans:,} events")
            ids = load(n_fans)
            log(f"loaded in {ids['load_seconds']:.0f} s")
        ids["rollup_seconds"] = None if only else rollup(ids["team"])
        log(f"measuring {repeats} requests per page")
        results = measure(ids, repeats, max_seconds, only)
    finally:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        embedded.stop_servers(data_dir, servers)
        if own_dir and not keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        elif keep or not own_dir:
            log(f"kept {data_dir}")
    return {"pages": results, "fans": n_fans, "participants": n_fans // 10, "events": 2 * n_fans,
            "recipients": min(100_000, n_fans), "repeats": repeats, "load_seconds": ids["load_seconds"],
            "rollup_seconds": ids.get("rollup_seconds"),
            "passed": all(r["pass"] for r in results)}


def page_rows(res: dict) -> list[Row]:
    """One row per page for the ``mediabao bench`` table."""
    return [(f"console: {r['page']}", f"p95 < {GOAL_P95_MS:.0f} ms, <= {GOAL_QUERIES} queries",
             f"p50 {r['p50']:.0f} / p95 {r['p95']:.0f} ms, {r['queries']} queries"
             + ("" if r["status"] == "200" else f", HTTP {r['status']}"),
             f"{GOAL_P95_MS / max(r['p95'], 0.1):.2f}x", "PASS" if r["pass"] else "FAIL")
            for r in res["pages"]]


def results(quick: bool = False, write: bool = False, fans: int | None = None,
            repeats: int | None = None) -> dict:
    """Load and measure; the rows for ``mediabao bench`` (the summary, then every page)."""
    load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    res = run(quick, fans, repeats)
    if write:
        write_doc(".venv/bin/python -m bench.bench_console" + (" --quick" if quick else "")
                  + (f" --fans {fans}" if fans else ""), res, load_avg)
    return {"rows": summary_rows(res) + page_rows(res)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="100,000 fans instead of 1,000,000")
    p.add_argument("--fans", type=int, help="fans to load (participants N/10, events 2N)")
    p.add_argument("--repeats", type=int, help="timed requests per page (20; 10 with --quick)")
    p.add_argument("--data-dir", type=Path, help="reuse (or create and keep) this data dir")
    p.add_argument("--keep", action="store_true", help="keep the data dir afterwards")
    p.add_argument("--pages", default="", help="only the pages whose names start with these "
                   "(comma-separated, e.g. fans,dashboard); implies --no-write")
    p.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = p.parse_args()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    res = run(args.quick, args.fans, args.repeats, args.data_dir, args.keep, only=args.pages)
    print("\n" + table(res["pages"]) + "\n", flush=True)
    if not args.no_write and not args.pages:
        cmd = ".venv/bin/python -m bench.bench_console" + (" --quick" if args.quick else "") + (
            f" --fans {args.fans}" if args.fans else "")
        write_doc(cmd, res, load_avg)
        print(f"updated {DOC.relative_to(ROOT)} (## Console at scale)")
    return 0 if res["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
