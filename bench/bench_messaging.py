"""Benchmark the delivery engine: a large template job against wxsim, 1 worker vs 2.

    .venv/bin/python -m bench.bench_messaging [--quick] [--no-write] [--keep]

Everything runs on loopback in a private data dir (/tmp/msgb-*): the embedded PostgreSQL
and Redis, ``mediabao migrate``, wxsim as a subprocess with 50 ms added latency on
``message/template/send``, and real Celery workers (``-c 1``, their own queue). Side by
side in one run:

1. the ceiling: a bare aiohttp loop with the same number of requests in flight, same
   bodies, same wxsim;
2. the seeds' way: one synchronous ``requests`` call after another (500 recipients,
   scaled);
3. the engine with 1 worker: ``services.create_job`` (materialization included) until
   every recipient row is final; the worker's RSS (process tree) is sampled and its
   database statements are counted by the runners;
4. the same job with 2 workers.

Every loop is bounded in count and time; every process is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import requests

from bench._procs import Procs, start_worker, tree_rss
from mediabao import embedded
from wxsim.testing import SubprocessSim

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
PY = sys.executable
MiB = 1024 * 1024
CONCURRENCY = 100
LATENCY_MS = 50
CONTENT = "{{first.DATA}}\n订单号：{{keyword1.DATA}}\n状态：{{keyword2.DATA}}\n{{remark.DATA}}"
DATA = {"keyword1": {"value": "A-100"}, "keyword2": {"value": "已发货"}}
Row = tuple[str, str, str, str, str]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {msg}", flush=True)


def mediabao_cmd() -> list[str]:
    script = Path(PY).parent / "mediabao"
    return [str(script)] if script.exists() else [PY, "-c", "from mediabao.cli import main; main()"]


def setup_django(env: dict) -> None:
    os.environ.update(env)
    import django

    django.setup()


async def bare_loop(base: str, token: str, tid: str, openids: list[str], concurrency: int,
                    max_seconds: float) -> tuple[float, int]:
    """The ceiling: N template sends, ``concurrency`` in flight, nothing else."""
    url = f"{base}/cgi-bin/message/template/send?access_token={token}"
    it = iter(enumerate(openids))
    ok = 0
    deadline = time.perf_counter() + max_seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            nonlocal ok
            for n, openid in it:
                if time.perf_counter() > deadline:
                    return
                body = {"touser": openid, "template_id": tid, "data": DATA,
                        "client_msg_id": f"ceiling-{n}"}
                async with session.post(url, json=body) as resp:
                    data = await resp.json(content_type=None)
                ok += data.get("errcode") == 0

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, ok


def sequential(base: str, token: str, tid: str, openids: list[str]) -> tuple[float, int]:
    """The seeds' way: one synchronous request after another."""
    url = f"{base}/cgi-bin/message/template/send?access_token={token}"
    session = requests.Session()
    ok = 0
    t0 = time.perf_counter()
    for n, openid in enumerate(openids):
        data = session.post(url, json={"touser": openid, "template_id": tid, "data": DATA,
                                       "client_msg_id": f"seq-{n}"}, timeout=10).json()
        ok += data.get("errcode") == 0
    return time.perf_counter() - t0, ok


class RssSampler(threading.Thread):
    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.peak, self._stop_event = pids, 0, threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            for pid in self.pids:
                self.peak = max(self.peak, tree_rss(pid))
            self._stop_event.wait(0.2)

    def stop(self) -> int:
        self._stop_event.set()
        self.join(2)
        return self.peak


def run_job(account, owner, template, workers: list, max_seconds: float, data_dir: Path
            ) -> dict:
    from mediabao.messaging import services
    from mediabao.messaging.models import Recipient, SendJob

    sampler = RssSampler([w.pid for w in workers])
    sampler.start()
    t0 = time.perf_counter()
    job, _w = services.create_job(team=account.team, user=owner, account=account, kind="template",
                                  message={"template": template.pk, "data": DATA},
                                  audience={"type": "all"})
    t_materialized = time.perf_counter() - t0
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        state = SendJob.objects.filter(pk=job.pk).values_list("state", flat=True).get()
        if state in ("done", "failed", "paused", "cancelled"):
            break
        time.sleep(0.1)
    elapsed = time.perf_counter() - t0
    peak = sampler.stop()
    job.refresh_from_db()
    open_rows = Recipient.objects.filter(job=job, state__in=["pending", "sending"]).count()
    time.sleep(1.5)  # let the runners' last log lines reach the files
    queries = recipients_logged = 0
    for path in (data_dir / "log").glob("worker*.log"):
        for m in re.finditer(rf"runner job={job.pk} recipients=(\d+) statements=(\d+)",
                             path.read_text(errors="replace")):
            recipients_logged += int(m.group(1))
            queries += int(m.group(2))
    return {"job": job, "elapsed": elapsed, "materialize": t_materialized, "peak_rss": peak,
            "open": open_rows, "statements": queries, "runner_recipients": recipients_logged}


def table(rows: list[Row]) -> str:
    head = "| measure | target | measured | ratio | result |\n|---|---|---|---|---|\n"
    return head + "\n".join("| " + " | ".join(r) + " |" for r in rows)


def write_doc(cmd: str, rows: list[Row], notes: list[str], n: int, load: str) -> None:
    cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    section = (
        "## Messaging\n\n"
        f"Command: `{cmd}` (everything on one machine, loopback; Python "
        f"{platform.python_version()}, {cpu}, load average {load} at the start; measured "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).\n\n"
        f"Setup: embedded PostgreSQL 16 + Redis, wxsim as a subprocess with {LATENCY_MS} ms added "
        f"latency on `message/template/send`, {n:,} fans of one verified service account in wxsim "
        "and in the fan table, a legacy template. Each engine run is `services.create_job` "
        "(audience materialized with one INSERT … SELECT) until every recipient row is final; "
        f"workers are real Celery processes (`-c 1`, their own queue, {CONCURRENCY} requests in "
        "flight per worker, chunks of 1,000 claimed with `FOR UPDATE SKIP LOCKED`). The ceiling "
        "is a bare aiohttp loop with the same concurrency and bodies against the same wxsim; "
        "the sequential row is one `requests` call after another, measured on 500 recipients "
        "and scaled. Statements are counted by the runners (claims, batched result writes, "
        "state checks). RSS is the whole worker process tree (main + prefork child).\n\n"
        f"{table(rows)}\n\n" + "".join(f"- {x}\n" for x in notes)
    )
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Messaging\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def _raise_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


#: Sizes of ``--quick``; ``mediabao bench --quick`` makes them smaller (see bench/run_all.py).
QUICK = {"recipients": 20_000, "sequential": 500}
#: The rows of the last run of :func:`main` in this process (for :func:`results`).
LAST: dict = {}


def results(quick: bool = False, write: bool = False, **sizes: int) -> dict:
    """Run the benchmark; its rows for ``mediabao bench`` (``sizes`` override :data:`QUICK`)."""
    QUICK.update(sizes)
    code = main((["--quick"] if quick else []) + ([] if write else ["--no-write"]))
    return {"rows": LAST.get("rows", []), "notes": LAST.get("notes", []), "exit": code}


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - one linear script
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="20,000 recipients instead of 100,000")
    p.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    p.add_argument("--keep", action="store_true", help="keep the data dir (logs) afterwards")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    n = QUICK["recipients"] if args.quick else 100_000
    n_seq = min(n, QUICK["sequential"])
    max_s = 600.0
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    data_dir = Path(tempfile.mkdtemp(prefix="msgb-", dir="/tmp"))
    procs = Procs()
    servers: list[subprocess.Popen] = []
    sim: SubprocessSim | None = None
    rows: list[Row] = []
    notes: list[str] = []
    ok = False
    try:
        log(f"data dir {data_dir}; load average {load}; {n:,} recipients")
        pg, rd, urls = embedded.start_servers(data_dir)
        servers = [rd, pg]
        sim = SubprocessSim(extra_args=["--log-level", "WARNING"]).start()
        env = {
            **os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT),
            "MEDIABAO_DATA_DIR": str(data_dir), "DATABASE_URL": urls.database_url,
            "REDIS_URL": urls.redis_url, "WECHAT_API_BASE": sim.base_url,
            "WECHAT_OPEN_BASE": sim.base_url, "WECHAT_MP_BASE": sim.base_url, "WXSIM_ENABLED": "0",
            "MEDIABAO_TASK_QUEUE": f"msgb-{os.getpid()}", "MEDIABAO_LOG_LEVEL": "INFO",
            "DJANGO_SETTINGS_MODULE": "mediabao.settings",
            "MEDIABAO_MESSAGING_CONCURRENCY": str(CONCURRENCY),
            "MEDIABAO_MESSAGING_RATE_PER_SECOND": "100000",
        }
        log("migrating")
        subprocess.run([*mediabao_cmd(), "migrate", "--noinput", "-v", "0"], env=env, check=True,
                       cwd=ROOT, timeout=300)
        setup_django(env)
        from mediabao.accounts import services as accounts
        from mediabao.fans.models import Fan
        from mediabao.messaging import services
        from mediabao.messaging.models import Template
        from mediabao.wechat.models import OfficialAccount
        from mediabao.wechat.tokens import credentials_for, token_store

        c = sim.client
        sim_acct = c.create_account(type="service", verified=True, pushes_enabled=False,
                                    record_inbox=False)
        appid = sim_acct["appid"]
        c.create_template(appid, "订单状态通知", CONTENT)
        log(f"wxsim: creating {n:,} fans")
        c.http.post(f"{sim.base_url}/_sim/accounts/{appid}/fans", json={"count": n},
                    timeout=600).raise_for_status()
        openids: list[str] = []
        while len(openids) < n:
            page = c.http.get(f"{sim.base_url}/_sim/accounts/{appid}/fans",
                              params={"offset": len(openids), "limit": 1000}, timeout=60).json()
            openids += [f["openid"] for f in page["fans"]]
        owner = accounts.sign_up(username=f"bench{os.getpid()}", password="Bench-Passw0rd-123",
                                 team_name="messaging bench")
        account = OfficialAccount.objects.create(
            team=owner.current_team, appid=appid, name="bench", kind="service", verified=True,
            auth_mode="developer", appsecret=sim_acct["secret"], callback_token="t" * 16)
        Fan.objects.bulk_create([Fan(team=account.team, account=account, openid=o) for o in openids],
                                batch_size=10_000)
        services.sync_templates(account)
        template = Template.objects.get(account=account)
        token = token_store().get(credentials_for(account))
        c.set_fault("message/template/send", latency_ms=LATENCY_MS)
        # Retries after lost answers count against WeChat's daily quota too: lift it.
        quota = {"endpoint": "message/template/send", "reset": True, "limit": 10 * n}

        log(f"ceiling: bare aiohttp loop, {CONCURRENCY} in flight")
        c.set_quota(appid, **quota)
        ceil_s, ceil_ok = asyncio.run(bare_loop(sim.base_url, token, template.template_id, openids,
                                                CONCURRENCY, max_s))
        ceiling = ceil_ok / ceil_s
        log(f"ceiling {ceiling:,.0f} msg/s")
        c.set_quota(appid, **quota)
        seq_s, seq_ok = sequential(sim.base_url, token, template.template_id, openids[:n_seq])
        seq_rate = max(seq_ok, 1) / seq_s
        log(f"sequential {seq_rate:,.1f} msg/s")

        results = {}
        workers = []
        for count in (1, 2):
            while len(workers) < count:
                workers.append(start_worker(procs, env, data_dir, str(len(workers) + 1),
                                            ("--without-mingle", "--without-gossip")))
            c.set_quota(appid, **quota)
            log(f"engine: {count} worker(s)")
            r = run_job(account, owner, template, workers, max_s, data_dir)
            r["rate"] = r["job"].sent / r["elapsed"]
            results[count] = r
            log(f"{count} worker(s): {r['rate']:,.0f} msg/s, state {r['job'].state}, "
                f"sent {r['job'].sent:,}, failed {r['job'].failed}, open rows {r['open']}, "
                f"peak RSS {r['peak_rss'] / MiB:.0f} MiB, statements {r['statements']}")

        one, two = results[1], results[2]
        complete = all(r["job"].state == "done" and r["job"].sent == n and r["open"] == 0
                       for r in results.values())
        per_recipient = one["statements"] / n if one["statements"] else float("nan")
        peak_mib = one["peak_rss"] / MiB
        rows = [
            ("ceiling: bare aiohttp loop", "—", f"{ceiling:,.0f} msg/s ({ceil_ok:,} ok in "
             f"{ceil_s:.1f} s)", "1.00x", "—"),
            (f"sequential (seeds' way), {n_seq:,} recipients", "—", f"{seq_rate:,.1f} msg/s "
             f"(≈ {n / seq_rate / 60:,.0f} min for {n:,})", f"{seq_rate / ceiling:.3f}x", "—"),
            (f"engine, 1 worker, {n:,} recipients end to end", ">= 70% of the ceiling",
             f"{one['rate']:,.0f} msg/s ({one['elapsed']:.1f} s; materialization "
             f"{one['materialize']:.2f} s)", f"{one['rate'] / ceiling:.2f}x",
             "PASS" if one["rate"] >= 0.7 * ceiling else "FAIL"),
            ("engine vs sequential", ">= 100x", f"{one['rate'] / seq_rate:,.0f}x",
             f"{one['rate'] / seq_rate / 100:.2f}x", "PASS" if one["rate"] >= 100 * seq_rate else "FAIL"),
            ("worker peak RSS (1 worker)", "<= 300 MiB", f"{peak_mib:.0f} MiB",
             f"{300 / peak_mib:.2f}x headroom" if peak_mib else "—", "PASS" if peak_mib <= 300 else "FAIL"),
            ("database statements per recipient (1 worker)", "<= 0.05", f"{per_recipient:.4f} "
             f"({one['statements']:,} for {n:,})", f"{0.05 / per_recipient:.0f}x headroom"
             if per_recipient == per_recipient and per_recipient else "—",
             "PASS" if per_recipient <= 0.05 else "FAIL"),
            (f"engine, 2 workers, {n:,} recipients", "ratio to 1 worker", f"{two['rate']:,.0f} msg/s "
             f"({two['elapsed']:.1f} s)", f"{two['rate'] / one['rate']:.2f}x", "—"),
            # `mediabao up` runs its worker with -c 2: two runners of a job at once, as here.
            ("engine, 2 workers (as `up` runs its worker: -c 2) vs sequential", ">= 100x",
             f"{two['rate'] / seq_rate:,.0f}x", f"{two['rate'] / seq_rate / 100:.2f}x",
             "PASS" if two["rate"] >= 100 * seq_rate else "FAIL"),
            ("every recipient final, all sent, both runs", "yes", "yes" if complete else "no", "—",
             "PASS" if complete else "FAIL"),
        ]
        notes = [
            f"The machine has {os.cpu_count()} CPUs shared by wxsim, PostgreSQL, Redis, the "
            "benchmark process and the workers: a second worker adds in-flight requests but "
            "competes for the same cores, so the 2-worker ratio measures contention here, "
            "not the scaling on separate machines.",
            f"Each worker keeps {CONCURRENCY} requests in flight; the per-account Redis rate "
            "limit was set high (100,000/s) so that it does not cap the measurement.",
        ]
        print("\n" + table(rows) + "\n", flush=True)
        LAST.update(rows=rows, notes=notes)
        ok = True
    except KeyboardInterrupt:
        log("interrupted; stopping everything")
    finally:
        procs.stop_all()
        if sim is not None:
            sim.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        embedded.stop_servers(data_dir, servers)
        if args.keep:
            log(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    if not ok:
        return 2
    if not args.no_write:
        cmd = ".venv/bin/python -m bench.bench_messaging" + (" --quick" if args.quick else "")
        write_doc(cmd, rows, notes, n, load)
        print(f"updated {DOC.relative_to(ROOT)} (## Messaging)")
    return 0 if all(r[4] != "FAIL" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
