"""Benchmark a cached poster served: the fan's poster URL when the poster is already made.

    .venv/bin/python -m bench.bench_poster_cache [--requests N] [--no-write]

The real request path on loopback data: embedded PostgreSQL and Redis in a private data
dir, ``mediabao migrate``, one team, account, activity (the campaign tests' background)
and a participant whose poster is rendered once. The fan's H5 page is fetched (with the
owner cookie a phone carries) and the poster URL it links, ``/c/poster/<token>.jpg?v=<key>``,
is requested N times through Django's handler and the whole middleware stack (token
check, one hand-written query that also decides freshness, the file: see
``mediabao/campaigns/posters_serving.py``); then N revalidations of that URL (304), N
requests of it over HTTP from gunicorn started as ``mediabao up`` starts it (gthread, one
worker, one keep-alive connection) and, for comparison, the poster made again each time
(``services.ensure_poster`` after dropping its cache key). Goal (issue 6): a cached poster
served at p50 <= 5 ms. Writes the ``## Poster cache`` section of docs/benchmarks.md unless
``--no-write``.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import http.client
import io
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._procs import Procs
from bench._stats import pct
from mediabao import embedded

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
TARGET_P50_MS = 5.0
Row = tuple[str, str, str, str, str]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}Z] {msg}", flush=True)


def _world():
    """Team, account, a running activity and a participant with a rendered poster."""
    from datetime import timedelta

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone
    from PIL import Image

    from mediabao.accounts import services as accounts
    from mediabao.campaigns import services
    from mediabao.campaigns.forms import save_tiers
    from mediabao.campaigns.models import Activity, Participant
    from mediabao.wechat.models import OfficialAccount

    user = accounts.sign_up(username="poster-bench", password="Corr3ct-Horse-Battery", team_name="海报")
    team = user.memberships.first().team
    account = OfficialAccount.objects.create(team=team, appid="wxposterbench00001", name="海报号")
    out = io.BytesIO()
    Image.new("RGB", (750, 1334), (240, 200, 120)).save(out, "PNG")
    now = timezone.now()
    activity = Activity(team=team, name="海报缓存", start_time=now - timedelta(hours=1),
                        end_time=now + timedelta(days=7), join_keyword="海报", rules="规则")
    activity.poster_background.save("bg.png", SimpleUploadedFile("bg.png", out.getvalue(), "image/png"),
                                    save=False)
    activity.save()
    activity.accounts.set([account])
    save_tiers(activity, [(1, 3, "笔记本", None)])
    participant = services.join(activity, account, "o-poster-bench", nickname="小明🌟")
    Participant.objects.filter(pk=participant.pk).update(
        qr_url="http://weixin.qq.com/q/02bench", qr_ticket="t",
        qr_expires_at=now + timedelta(days=29))
    participant.refresh_from_db()
    services.ensure_poster(participant)
    participant.refresh_from_db()
    return participant


def over_gunicorn(url: str, cookie: str, requests: int, env: dict, data_dir: Path) -> list[float]:
    """The same URL from gunicorn as ``mediabao up`` runs it (gthread; one worker here), over
    one keep-alive HTTP connection on loopback, as a phone's browser would ask for it."""
    port = embedded.free_port()
    procs = Procs()
    proc = procs.start("gunicorn", [
        sys.executable, "-m", "gunicorn", "mediabao.wsgi:application", "--bind",
        f"127.0.0.1:{port}", "--workers", "1", "--threads", "8", "--worker-class", "gthread",
        "--timeout", "30", "--access-logfile", str(data_dir / "access.log")],
        {**os.environ, **env, "PYTHONPATH": str(ROOT)}, data_dir / "gunicorn.log")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with contextlib.closing(http.client.HTTPConnection("127.0.0.1", port, timeout=5)) as c:
                    c.request("GET", "/livez")
                    if c.getresponse().status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start (see {data_dir / 'gunicorn.log'})")
            time.sleep(0.2)
        headers = {"Host": "127.0.0.1", "Cookie": cookie, "User-Agent": "MicroMessenger bench"}
        times: list[float] = []
        with contextlib.closing(http.client.HTTPConnection("127.0.0.1", port, timeout=10)) as conn:
            for i in range(requests + 1):
                started = time.perf_counter()
                conn.request("GET", url, headers=headers)
                response = conn.getresponse()
                body = response.read()
                if i:  # the first one warms the worker up
                    times.append((time.perf_counter() - started) * 1000)
                assert response.status == 200 and body[:2] == b"\xff\xd8", response.status
                assert response.getheader("Cache-Control") == "private, max-age=31536000, immutable"
        return times
    finally:
        procs.stop(proc)


def measure(requests: int, env: dict | None = None, data_dir: Path | None = None) -> list[Row]:
    from django.test import Client

    from mediabao.campaigns import services
    from mediabao.campaigns.models import Participant

    participant = _world()
    # The fan's phone: the H5 page (with the owner cookie the OAuth callback set) and the
    # poster URL that page links, exactly as the <img> asks for it.
    client = Client(HTTP_HOST="127.0.0.1")
    client.cookies[services.owner_cookie_name(participant)] = services.owner_cookie_value(participant)
    page = client.get(f"/c/me/{services.h5_token(participant)}/")
    assert page.status_code == 200, page.status_code
    url = html.unescape(re.search(r'id="poster" src="([^"]+)"', page.content.decode()).group(1))
    assert url.startswith("/c/poster/") and "?v=" in url, url
    assert client.get(url).status_code == 200  # warm-up
    served: list[float] = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        body = b"".join(response.streaming_content)
        served.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and body[:2] == b"\xff\xd8"
    etag = response["ETag"]
    revalidated: list[float] = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url, HTTP_IF_NONE_MATCH=etag)
        revalidated.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 304
    cookie = f"{services.owner_cookie_name(participant)}={services.owner_cookie_value(participant)}"
    http_times = over_gunicorn(url, cookie, requests, env, data_dir) if env and data_dir else []
    made: list[float] = []
    for _ in range(min(50, requests)):
        Participant.objects.filter(pk=participant.pk).update(poster_key="")
        participant.poster_key = ""
        started = time.perf_counter()
        services.ensure_poster(participant)
        made.append((time.perf_counter() - started) * 1000)
    p50 = statistics.median(served)
    return [
        ("cached poster served (GET `/c/poster/<token>.jpg?v=<key>`, the URL the H5 page links, "
         "through Django's handler)",
         f"p50 <= {TARGET_P50_MS:.0f} ms",
         f"p50 {p50:.2f} ms, p95 {pct(served, 95):.2f} ms ({requests} requests)",
         f"{TARGET_P50_MS / p50:.1f}x" if p50 else "-", "PASS" if p50 <= TARGET_P50_MS else "FAIL"),
        ("the same URL revalidated (If-None-Match: the poster's ETag, answer 304)", "-",
         f"p50 {statistics.median(revalidated):.2f} ms, p95 {pct(revalidated, 95):.2f} ms", "-", "-"),
        *([("the same URL from gunicorn over HTTP (as `mediabao up` runs it; 1 worker, keep-alive)", "-",
            f"p50 {statistics.median(http_times):.2f} ms, p95 {pct(http_times, 95):.2f} ms", "-", "-")]
          if http_times else []),
        ("the same poster made again (ensure_poster with its cache key dropped)", "-",
         f"p50 {statistics.median(made):.1f} ms", f"{statistics.median(made) / p50:.0f}x the cached"
         if p50 else "-", "-"),
    ]


def run(requests: int) -> list[Row]:
    data_dir = Path(tempfile.mkdtemp(prefix="pcb-", dir="/tmp"))
    servers = []
    try:
        pg, rd, urls = embedded.start_servers(data_dir)
        servers = [rd, pg]
        env = {"MEDIABAO_DATA_DIR": str(data_dir), "DATABASE_URL": urls.database_url,
               "REDIS_URL": urls.redis_url, "DJANGO_SETTINGS_MODULE": "mediabao.settings",
               "MEDIABAO_LOG_LEVEL": "WARNING", "WXSIM_ENABLED": "0"}
        log("migrating")
        subprocess.run([sys.executable, "-c", "from mediabao.cli import main; main()", "migrate",
                        "--noinput", "-v", "0"],
                       env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, check=True, cwd=ROOT, timeout=600)
        os.environ.update(env)
        import django

        django.setup()
        log(f"measuring {requests} requests")
        return measure(requests, env, data_dir)
    finally:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        embedded.stop_servers(data_dir, servers)
        shutil.rmtree(data_dir, ignore_errors=True)


def write_doc(cmd: str, rows: list[Row], load_start: float, load_end: float) -> None:
    """Rewrite the ``## Poster cache`` section of docs/benchmarks.md (after ``## Posters``)."""
    section = (
        "## Poster cache\n\n"
        f"Command: `{cmd}` (Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load_start:.1f} at the start and {load_end:.1f} at "
        f"the end; measured {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC).\n\n"
        "What a fan's phone does once its poster exists: the H5 page (`/c/me/<token>/`, with the "
        "owner cookie the OAuth callback set) links the poster as `/c/poster/<token>.jpg?v=<poster "
        "key>`; that URL is requested through Django's handler with the whole middleware stack, "
        "then revalidated with the ETag it got (304), then fetched over HTTP from gunicorn "
        "started as `mediabao up` starts it (gthread; one worker; one keep-alive connection); "
        "last, the poster is made again with its cache key dropped, for comparison. Embedded "
        "PostgreSQL and Redis on loopback, a private data dir.\n\n"
        "| measure | target | measured | ratio | result |\n|---|---|---|---|---|\n"
        + "".join("| " + " | ".join(row) + " |\n" for row in rows) + "\n"
        "- Where the time went before (p50 5.37 ms recorded on a quiet machine; cProfile of the "
        "handler): about three quarters in the participant lookup, and most of that in the ORM "
        "compiling `select_related(activity, account)` (about 1 ms per request, four times the "
        "round trip); the middleware stack about 0.3 ms, unsigning the token 9 µs, "
        "`FileResponse` 30 µs. Side by side on 2026-11-22 at 17:21 UTC (load average 5 to 6, two "
        "runs each, alternating): p50 2.27 and 2.24 ms with the old handler (ecc0f20), 1.11 and "
        "1.02 ms with this one.\n"
        "- The handler now reads the eight columns that decide freshness with one hand-written "
        "statement (`mediabao/campaigns/posters_serving.py`) and computes the poster key again; "
        "no cache to invalidate, so an edited layout or background, a QR code within a day of "
        "its 30-day expiry or a removed participant take effect on the next request. A stale "
        "poster is made again in that request (under a Redis lock), never served.\n"
        "- The versioned URL is `Cache-Control: private, max-age=31536000, immutable`: WeChat's "
        "browser asks for it once per poster version; any other URL is `private, no-cache` with "
        "`ETag` and `Last-Modified`.\n"
        "- Wall-clock figures on a shared 2-CPU machine: with a load average above 2 other "
        "processes ran at the same time and the figures are upper bounds.\n"
    )
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Poster cache\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text)
    else:
        after = re.search(r"^## Posters\n.*?(?=^## |\Z)", text, re.S | re.M)
        at = after.end() if after else len(text)
        text = text[:at].rstrip("\n") + "\n\n" + section + "\n" + text[at:]
    DOC.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def results(quick: bool = False, write: bool = False, requests: int | None = None) -> dict:
    """Rows for ``mediabao bench``."""
    requests = requests or (200 if quick else 1000)
    load = os.getloadavg()[0]
    rows = run(requests)
    if write:
        write_doc(f".venv/bin/python -m bench.bench_poster_cache --requests {requests}", rows, load,
                  os.getloadavg()[0])
    return {"rows": rows, "notes": []}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = p.parse_args(argv)
    load = os.getloadavg()[0]
    rows = run(args.requests)
    print("\n| measure | target | measured | ratio | result |\n|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    if not args.no_write:
        write_doc(f".venv/bin/python -m bench.bench_poster_cache --requests {args.requests}", rows, load,
                  os.getloadavg()[0])
        print(f"\nupdated {DOC.relative_to(ROOT)} (## Poster cache)")
    return 0 if all(r[4] != "FAIL" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
