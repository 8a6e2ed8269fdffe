"""Benchmark wxsim: template/send throughput, memory with 1M fans, user/get page latency.

    .venv/bin/python -m bench.bench_wxsim [--quick] [--no-write]

Starts ``python -m wxsim`` as a subprocess on 127.0.0.1, drives it with a bare
aiohttp client, prints target vs measured, and updates the ``## wxsim`` section of
docs/benchmarks.md. Every load loop is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import aiohttp
import psutil

from bench._stats import pct
from wxsim.testing import SubprocessSim

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
MiB = 1024 * 1024


async def template_send_rate(base: str, token: str, tid: str, openids: list[str], total: int,
                             concurrency: int, max_seconds: float) -> tuple[float, int, int]:
    """Returns (calls per second, ok count, error count)."""
    url = f"{base}/cgi-bin/message/template/send?access_token={token}"
    counter = iter(range(total))
    ok = err = 0
    deadline = time.perf_counter() + max_seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal ok, err
            for n in counter:
                if time.perf_counter() > deadline:
                    return
                body = {"touser": openids[n % len(openids)], "template_id": tid,
                        "data": {"keyword1": {"value": f"订单{n}"}}}
                async with session.post(url, json=body) as resp:
                    data = await resp.json(content_type=None)
                if data.get("errcode") == 0:
                    ok += 1
                else:
                    err += 1

        async def warm() -> None:
            async with session.get(f"{base}/_sim/clock") as resp:
                await resp.read()

        await asyncio.gather(*(warm() for _ in range(concurrency)))  # open the connections
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return (ok + err) / elapsed, ok, err


async def user_get_latency(base: str, token: str, pages: int) -> list[float]:
    out = []
    next_openid = ""
    async with aiohttp.ClientSession() as session:
        for _ in range(pages):
            t0 = time.perf_counter()
            params = {"access_token": token}
            if next_openid:
                params["next_openid"] = next_openid
            async with session.get(f"{base}/cgi-bin/user/get", params=params) as resp:
                data = await resp.json(content_type=None)
            out.append((time.perf_counter() - t0) * 1000)
            if data.get("count", 0) == 0 or "data" not in data:
                next_openid = ""
                continue
            next_openid = data["next_openid"]
    return out



#: Sizes of ``--quick``; ``mediabao bench --quick`` makes them smaller (see bench/run_all.py).
QUICK = {"sends": 5_000, "fans": 200_000, "pages": 20}


def results(quick: bool = False, write: bool = False, **sizes: int) -> dict:
    """The rows of one run, for ``mediabao bench`` (``sizes`` override :data:`QUICK`)."""
    QUICK.update(sizes)
    rows = run(quick)
    if write:
        write_doc(".venv/bin/python -m bench.bench_wxsim" + (" --quick" if quick else ""), rows)
    return {"rows": rows}


def run(quick: bool) -> list[tuple[str, str, str, str, str]]:
    total = QUICK["sends"] if quick else 30000
    fans_n = QUICK["fans"] if quick else 1_000_000
    pages = QUICK["pages"] if quick else 50
    sim = SubprocessSim(extra_args=["--log-level", "WARNING"]).start()
    try:
        c = sim.client
        proc = psutil.Process(sim.proc.pid)  # type: ignore[union-attr]
        rss_start = proc.memory_info().rss
        acct = c.create_account(pushes_enabled=False)
        openids = c.create_fans(acct["appid"], 1000)
        tid = c.create_template(acct["appid"], "订单通知",
                                "{{first.DATA}}\n订单：{{keyword1.DATA}}\n{{remark.DATA}}")["template_id"]
        import requests

        tok = requests.get(f"{sim.base_url}/cgi-bin/token", params={
            "grant_type": "client_credential", "appid": acct["appid"],
            "secret": acct["secret"]}, timeout=10).json()["access_token"]
        cpu0, t0 = proc.cpu_times(), time.perf_counter()
        rate, ok, err = asyncio.run(template_send_rate(sim.base_url, tok, tid, openids, total,
                                                       200, 60.0))
        cpu1, el = proc.cpu_times(), time.perf_counter() - t0
        server_cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / el
        big = c.create_account(pushes_enabled=False)
        t0 = time.perf_counter()
        c.http.post(f"{sim.base_url}/_sim/accounts/{big['appid']}/fans",
                    json={"count": fans_n}, timeout=600).raise_for_status()
        create_s = time.perf_counter() - t0
        rss = proc.memory_info().rss
        tok2 = requests.get(f"{sim.base_url}/cgi-bin/token", params={
            "grant_type": "client_credential", "appid": big["appid"],
            "secret": big["secret"]}, timeout=10).json()["access_token"]
        lat = asyncio.run(user_get_latency(sim.base_url, tok2, pages))
    finally:
        sim.stop()
    p50, p95 = statistics.median(lat), pct(lat, 95)
    rss_mib = rss / MiB
    rows = [
        ("template/send throughput (200 in flight, no added latency)", ">= 3,000 calls/s",
         f"{rate:,.0f} calls/s ({ok:,} ok, {err} errors; simulator CPU {server_cpu:.0%})",
         f"{rate / 3000:.2f}x",
         "PASS" if rate >= 3000 and err == 0 else "FAIL"),
        (f"RSS with {fans_n:,} fans in one account", "<= 1,024 MiB",
         f"{rss_mib:,.0f} MiB (start {rss_start / MiB:,.0f} MiB; created in {create_s:.1f} s)",
         f"{1024 / rss_mib:.2f}x headroom", "PASS" if rss_mib <= 1024 else "FAIL"),
        (f"user/get page (10,000 openids) p50 over {pages} pages", "< 50 ms",
         f"{p50:.1f} ms", f"{50 / p50:.1f}x", "PASS" if p50 < 50 else "FAIL"),
        (f"user/get page p95 over {pages} pages", "< 50 ms", f"{p95:.1f} ms", f"{50 / p95:.1f}x",
         "PASS" if p95 < 50 else "FAIL"),
    ]
    return rows


def table(rows: list[tuple[str, str, str, str, str]]) -> str:
    lines = ["| measure | target | measured | ratio | result |", "|---|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    return "\n".join(lines)


def write_doc(cmd: str, rows: list[tuple[str, str, str, str, str]]) -> None:
    cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    section = (
        "## wxsim\n\n"
        f"Command: `{cmd}` (client and simulator on the same machine, loopback; "
        f"Python {platform.python_version()}, {cpu}; measured {time.strftime('%Y-%m-%d')}).\n\n"
        "The simulator runs as a separate process (`python -m wxsim`); a bare aiohttp client "
        "sends `message/template/send` with 200 requests in flight to 1,000 fans (pushes off); "
        "then one control call creates the fans of a second account, the simulator's RSS is "
        "read with psutil, and `user/get` pages are fetched one after another. The "
        "simulator's CPU share during the send run is shown: below 100% means the Python "
        "client, sharing the machine, was the limit, not wxsim.\n\n"
        f"{table(rows)}\n"
    )
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## wxsim\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller counts (200k fans, 5k sends)")
    p.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = p.parse_args()
    rows = run(args.quick)
    print(table(rows))
    if not args.no_write:
        cmd = ".venv/bin/python -m bench.bench_wxsim" + (" --quick" if args.quick else "")
        write_doc(cmd, rows)
        print(f"\nupdated {DOC.relative_to(ROOT)} (## wxsim)")
    return 0 if all(r[4] == "PASS" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
