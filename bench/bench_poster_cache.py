"""Benchmark a cached poster served: the fan's poster URL when the poster is already made.

    .venv/bin/python -m bench.bench_poster_cache [--requests N]

The real request path on loopback data: embedded PostgreSQL and Redis in a private data
dir, ``mediabao migrate``, one team, account, activity (the campaign tests' background)
and a participant whose poster is rendered once; then ``/c/poster/<token>.jpg`` is
requested N times through Django's handler (token check, one query, the file) and, for
comparison, the poster made again each time (``services.ensure_poster`` after dropping
its cache key). Goal (issue 6): a cached poster served at p50 <= 5 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._stats import pct
from mediabao import embedded

ROOT = Path(__file__).resolve().parent.parent
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


def measure(requests: int) -> list[Row]:
    from django.test import Client

    from mediabao.campaigns import services
    from mediabao.campaigns.models import Participant

    participant = _world()
    url = f"/c/poster/{services.h5_token(participant)}.jpg"
    client = Client(HTTP_HOST="127.0.0.1")
    assert client.get(url).status_code == 200  # warm-up
    served: list[float] = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        body = b"".join(response.streaming_content)
        served.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and body[:2] == b"\xff\xd8"
    made: list[float] = []
    for _ in range(min(50, requests)):
        Participant.objects.filter(pk=participant.pk).update(poster_key="")
        participant.poster_key = ""
        started = time.perf_counter()
        services.ensure_poster(participant)
        made.append((time.perf_counter() - started) * 1000)
    p50 = statistics.median(served)
    return [
        ("cached poster served (GET /c/poster/<token>.jpg through Django's handler)",
         f"p50 <= {TARGET_P50_MS:.0f} ms",
         f"p50 {p50:.2f} ms, p95 {pct(served, 95):.2f} ms ({requests} requests)",
         f"{TARGET_P50_MS / p50:.1f}x" if p50 else "-", "PASS" if p50 <= TARGET_P50_MS else "FAIL"),
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
        return measure(requests)
    finally:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        embedded.stop_servers(data_dir, servers)
        shutil.rmtree(data_dir, ignore_errors=True)


def results(quick: bool = False, write: bool = False, requests: int | None = None) -> dict:  # noqa: ARG001
    """Rows for ``mediabao bench``."""
    return {"rows": run(requests or (200 if quick else 1000)), "notes": []}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=1000)
    args = p.parse_args(argv)
    rows = run(args.requests)
    print("\n| measure | target | measured | ratio | result |\n|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0 if all(r[4] != "FAIL" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
