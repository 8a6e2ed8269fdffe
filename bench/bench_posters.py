"""Benchmark posters: ms per poster and size, JPEG q85 vs PNG side by side in one run.

    .venv/bin/python -m bench.bench_posters [--count 200] [--max-seconds 120] [--no-write]

Renders posters for a 750x1334 background (synthetic but poster-like: gradient, soft
shapes, a title, a photo-like band; uploaded as JPEG q90) with a 132x132 avatar (WeChat's
size), nicknames mixing Chinese, emoji and long names, and a distinct QR link each. Each
iteration makes the same poster as JPEG and as PNG, alternating which goes first, so both
see the same machine state. Prints a table and updates the ``## Posters`` section of
docs/benchmarks.md. Every loop is bounded in count and in time. Django is not set up:
the renderer needs only Pillow, segno and the fonts.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import re
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from bench._stats import pct
from mediabao.campaigns import fonts, posters

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
TARGET_P50_MS = 30.0
NICKNAMES = ["小明", "王小花🌸", "Lucky🍀幸运星", "一二三四五六七八九十" * 10, "Zoë ❤️ 😀👨‍💻🇨🇳", "阿强"]
KINDS = ("jpeg", "baseline", "cold", "png")
Row = tuple[str, int, float, float, float, float, float, str, str, float]


def make_background(seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    width, height = 750, 1334
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.merge("RGB", (gradient.point(lambda v: 255 - v // 3),
                                gradient.point(lambda v: 120 + v // 3),
                                Image.new("L", (width, height), 200)))
    shapes = Image.new("RGB", (width, height), (0, 0, 0))
    draw = ImageDraw.Draw(shapes)
    for _ in range(25):
        x, y, r = rnd.randrange(width), rnd.randrange(height), rnd.randrange(30, 160)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rnd.randrange(256) for _ in range(3)))
    mask = Image.new("L", (width, height), 90).filter(ImageFilter.GaussianBlur(4))
    image = Image.composite(shapes.filter(ImageFilter.GaussianBlur(12)), image, mask)
    photo = Image.effect_noise((width, 360), 60).convert("RGB").filter(ImageFilter.GaussianBlur(1.2))
    image.paste(photo, (0, 360))
    draw = ImageDraw.Draw(image)
    draw.text((60, 120), "扫码助力 免费领好礼", font=fonts.cjk_font(64), fill=(255, 255, 255))
    draw.text((60, 230), "邀请 3 位好友关注即可领取", font=fonts.cjk_font(36), fill=(255, 240, 200))
    draw.rectangle((0, 1060, width, height), fill=(250, 250, 250))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def make_avatar() -> bytes:
    image = Image.effect_noise((132, 132), 40).convert("RGB").filter(ImageFilter.GaussianBlur(2))
    image = Image.blend(image, Image.new("RGB", (132, 132), (200, 120, 90)), 0.6)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def encode_png(poster: Image.Image) -> bytes:
    out = io.BytesIO()
    poster.save(out, "PNG")  # Pillow's default zlib level 6
    return out.getvalue()



def side_by_side(count: int, max_seconds: float, background: bytes, avatar: bytes
                 ) -> dict[str, tuple[list[float], list[int], list[float]]]:
    layout = posters.PosterLayout()
    results: dict[str, tuple[list[float], list[int], list[float]]] = {kind: ([], [], []) for kind in KINDS}
    deadline = time.perf_counter() + max_seconds
    posters.render_poster(background, avatar=avatar, nickname="预热", qr_url="http://weixin.qq.com/q/warm",
                          layout=layout)  # fonts and glyph caches loaded once per process

    def one(kind: str, i: int) -> None:
        nickname = NICKNAMES[i % len(NICKNAMES)]
        url = f"http://weixin.qq.com/q/02{i:08d}AbCdEfGhIjKl"
        if kind == "cold":
            posters.clear_caches()
        started, cpu_started = time.perf_counter(), time.process_time()
        poster = posters.compose_poster(background, avatar=avatar, nickname=nickname, qr_url=url,
                                        layout=layout)
        if kind == "png":
            data = encode_png(poster)
        elif kind == "baseline":  # the alternative: progressive (the kind's name is kept for the doc)
            out = io.BytesIO()
            poster.save(out, "JPEG", quality=posters.JPEG_QUALITY, progressive=True, optimize=True)
            data = out.getvalue()
        else:
            data = posters.encode_jpeg(poster)
        results[kind][0].append((time.perf_counter() - started) * 1000)
        results[kind][1].append(len(data))
        results[kind][2].append((time.process_time() - cpu_started) * 1000)

    for i in range(count):
        if time.perf_counter() > deadline:
            break
        for kind in (KINDS if i % 2 == 0 else KINDS[::-1]):
            one(kind, i)
    posters.clear_caches()
    return results


def _worker(args: tuple[bytes, bytes, int, float]) -> int:
    background, avatar, count, seconds = args
    layout = posters.PosterLayout()
    posters.render_poster(background, avatar=avatar, nickname="预热", qr_url="http://weixin.qq.com/q/w",
                          layout=layout)
    done, deadline = 0, time.perf_counter() + seconds
    while done < count and time.perf_counter() < deadline:
        posters.render_poster(background, avatar=avatar, nickname=NICKNAMES[done % len(NICKNAMES)],
                              qr_url=f"http://weixin.qq.com/q/02{done:08d}", layout=layout)
        done += 1
    return done


def parallel_rate(processes: int, count: int, seconds: float, background: bytes, avatar: bytes) -> float:
    """JPEG posters per second with one process per core (warm-up excluded by the pool's start)."""
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(_worker, [(background, avatar, 1, seconds)] * processes))  # start and warm up
        started = time.perf_counter()
        done = sum(pool.map(_worker, [(background, avatar, count, seconds)] * processes))
        return done / (time.perf_counter() - started)


def rows_from(results: dict[str, tuple[list[float], list[int], list[float]]]) -> list[Row]:
    base_ms = statistics.median(results["jpeg"][0])
    base_kib = statistics.mean(results["jpeg"][1]) / 1024
    labels = {"jpeg": "JPEG q85 baseline, the platform's (background cached)",
              "baseline": "JPEG q85 progressive instead (background cached)",
              "cold": "JPEG q85 baseline (background decoded each time)",
              "png": "PNG, zlib level 6 (background cached)"}
    rows: list[Row] = []
    for kind in KINDS:
        times, sizes, cpu = results[kind]
        p50, kib = statistics.median(times), statistics.mean(sizes) / 1024
        rows.append((labels[kind], len(times), p50, pct(times, 95), pct(times, 99), 1000 / p50, kib,
                     f"{p50 / base_ms:.2f}x", f"{kib / base_kib:.2f}x", statistics.median(cpu)))
    return rows


def table(rows: list[Row]) -> str:
    lines = ["| output | posters | p50 ms | p95 ms | p99 ms | CPU ms p50 | posters/s (1 process, from p50) "
             "| KiB | time vs JPEG | size vs JPEG |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.1f} | {r[4]:.1f} | {r[9]:.1f} | {r[5]:.0f} | "
              f"{r[6]:.0f} | {r[7]} | {r[8]} |" for r in rows]
    return "\n".join(lines)


def write_doc(cmd: str, rows: list[Row], rate: float, processes: int, load: float) -> None:
    cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
    cpu += f"{load:.1f} at the start"
    p50 = rows[0][2]
    verdict = "PASS" if p50 <= TARGET_P50_MS else "FAIL"
    emoji = fonts.find_emoji_font()
    section = (
        "## Posters\n\n"
        f"Command: `{cmd}` (Python {platform.python_version()}, {cpu}; measured "
        f"{time.strftime('%Y-%m-%d')}).\n\n"
        "`mediabao.campaigns.posters`: a 750x1334 poster-like background (gradient, soft shapes, "
        "a Chinese title, a photo-like band; uploaded as JPEG q90), a 132x132 avatar made round, a "
        "nickname (Chinese, emoji, a 100-character name ellipsized) in "
        f"{Path(fonts.find_cjk_font().path).name} with emoji from "
        f"{Path(emoji.path).name if emoji else 'no emoji font (emoji removed)'}, and a QR code "
        "drawn with segno from a distinct link per poster. Times cover composing and encoding "
        "one poster in one process. Each iteration makes the same poster as JPEG and PNG "
        "(alternating which goes first); ratios are against the first row.\n\n"
        f"{table(rows)}\n\n"
        f"- Goal (issue 6): p50 at most {TARGET_P50_MS:.0f} ms to make a poster: "
        f"{p50:.1f} ms, {verdict}.\n"
        f"- Throughput with {processes} processes (one per core), JPEG, background cached: "
        f"{rate:.0f} posters/s.\n"
        f"- Progressive vs baseline JPEG: +{p50 - rows[1][2]:.1f} ms at p50 for "
        f"{100 * (1 - rows[0][6] / rows[1][6]):.0f}% smaller files that show the whole poster, "
        "blurry first, early on slow mobile networks. The other large fixed cost is the QR code: "
        "segno evaluates all 8 masks in pure Python (about 5 ms).\n"
        "- PNG is several times larger and slower for the same poster: posters are JPEG.\n"
        "- p50/p95/p99 are wall-clock; CPU ms is the process's own CPU time per poster. A load "
        "average above the CPU count means other processes shared the machine during the run: "
        "wall-clock times are then upper bounds and CPU ms is the better estimate of the cost.\n"
    )
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Posters\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def results(quick: bool = False, write: bool = False, count: int | None = None,
            max_seconds: float | None = None) -> dict:
    """The summary rows of one run, for ``mediabao bench`` (``--quick``: 50 posters each)."""
    load = os.getloadavg()[0]
    count = count or (50 if quick else 200)
    max_seconds = max_seconds or (30.0 if quick else 120.0)
    background, avatar = make_background(), make_avatar()
    rows = rows_from(side_by_side(count, max_seconds, background, avatar))
    processes = min(2, os.cpu_count() or 1)
    rate = parallel_rate(processes, count, max_seconds / 4, background, avatar)
    jpeg, png = rows[0], rows[3]
    if write:
        write_doc(".venv/bin/python -m bench.bench_posters" + (f" --count {count}" if count != 200 else ""),
                  rows, rate, processes, load)
    return {"rows": [
        ("poster p50, JPEG q85 (750x1334, avatar, nickname, QR)", f"<= {TARGET_P50_MS:.0f} ms",
         f"{jpeg[2]:.1f} ms (p95 {jpeg[3]:.1f}, CPU {jpeg[9]:.1f} ms; {jpeg[1]} posters)",
         f"{TARGET_P50_MS / jpeg[2]:.2f}x", "PASS" if jpeg[2] <= TARGET_P50_MS else "FAIL"),
        (f"posters/s with {processes} processes (JPEG)", "-", f"{rate:.0f} posters/s", "-", "-"),
        ("PNG instead of JPEG (same poster)", "-", f"{png[2]:.1f} ms, {png[6]:.0f} KiB",
         f"{png[7]} time, {png[8]} size", "-"),
    ]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="posters per output format")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="bound on each measuring loop")
    parser.add_argument("--processes", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    background, avatar = make_background(), make_avatar()
    rows = rows_from(side_by_side(args.count, args.max_seconds, background, avatar))
    rate = parallel_rate(args.processes, args.count, args.max_seconds / 4, background, avatar)
    print(table(rows))
    print(f"\n{args.processes} processes, JPEG: {rate:.0f} posters/s")
    print(f"goal p50 <= {TARGET_P50_MS:.0f} ms: {rows[0][2]:.1f} ms")
    if not args.no_write:
        cmd = ".venv/bin/python -m bench.bench_posters"
        if args.count != 200:
            cmd += f" --count {args.count}"
        write_doc(cmd, rows, rate, args.processes, load)
        print(f"\nupdated {DOC.relative_to(ROOT)} (## Posters)")
    return 0 if rows[0][2] <= TARGET_P50_MS else 1


if __name__ == "__main__":
    sys.exit(main())
