"""Every benchmark in one go: one table of figures, goals, ratios and verdicts.

    mediabao bench [--quick] [--only gateway,posters] [--no-write] [--write-sections] [--verbose]

Each benchmark runs in its own child process (``python -m bench.run_all --child NAME``:
they set Django up with different settings and databases), which calls the module's
``results()`` and hands its rows back as JSON. ``--quick`` uses smaller sizes than each
module's own ``--quick`` so that all of them finish in under 10 minutes on a 2-core machine;
the full mode uses each benchmark's full sizes. The table is printed and written between
markers at the top of docs/benchmarks.md (``bench/report.py``); with ``--write-sections``
each benchmark also rewrites its own detailed section (meant for full runs). Every child
has a time limit and is stopped with its process group when it runs over.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import report

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
QUICK_BUDGET_S = 600.0


@dataclass(frozen=True)
class Bench:
    module: str
    #: Sizes passed to ``results(quick=True, **quick)`` by ``mediabao bench --quick``.
    quick: dict = field(default_factory=dict)
    #: Time limits of the child process (seconds): quick, full.
    limit_quick: float = 120.0
    limit_full: float = 3600.0


BENCHES: dict[str, Bench] = {
    "wxsim": Bench("bench.bench_wxsim", {"sends": 5_000, "fans": 100_000, "pages": 10}, 60, 900),
    "posters": Bench("bench.bench_posters", {"count": 40, "max_seconds": 20.0}, 60, 900),
    "poster-cache": Bench("bench.bench_poster_cache", {"requests": 200}, 60, 600),
    "gateway": Bench("bench.bench_gateway", {"events": 1_000, "followers": 30_000}, 240, 3600),
    "messaging": Bench("bench.bench_messaging", {"recipients": 5_000, "sequential": 200}, 180, 2400),
    "campaigns": Bench("bench.bench_campaigns", {"assists": 600, "baseline": 200}, 180, 4200),
    "console": Bench("bench.bench_console", {"fans": 100_000, "repeats": 5}, 180, 3600),
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}Z] {msg}", flush=True)


def child(name: str, quick: bool, write: bool, out: Path) -> int:
    """In the child process: run one benchmark and write its rows as JSON."""
    bench = BENCHES[name]
    module = importlib.import_module(bench.module)
    res = module.results(quick=quick, write=write, **(bench.quick if quick else {}))
    out.write_text(json.dumps({"rows": [list(r) for r in res.get("rows", [])],
                               "notes": res.get("notes", [])}, ensure_ascii=False), encoding="utf-8")
    return 0


def run_one(name: str, quick: bool, write: bool, limit: float, log_dir: Path, verbose: bool) -> dict:
    out = log_dir / f"{name}.json"
    log_path = log_dir / f"{name}.log"
    cmd = [sys.executable, "-m", "bench.run_all", "--child", name, "--out", str(out)]
    cmd += ["--quick"] if quick else []
    cmd += ["--write-sections"] if write else []
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    started = time.monotonic()
    error = ""
    with open(log_path, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=None if verbose else fh, stderr=subprocess.STDOUT if not verbose
                                else None, start_new_session=True)
        try:
            code = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            error = f"stopped at its time limit ({limit:.0f} s)"
            _stop(proc)
            code = proc.returncode
        except KeyboardInterrupt:
            _stop(proc)
            raise
    seconds = time.monotonic() - started
    rows, notes = [], []
    if out.exists():
        data = json.loads(out.read_text(encoding="utf-8"))
        rows, notes = data["rows"], data["notes"]
    elif not error:
        error = f"exit code {code}, no results (log: {log_path})"
    return {"name": name, "seconds": seconds, "rows": rows, "notes": notes, "error": error}


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the child's process group (the benchmarks stop their servers on it)."""
    for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
            return


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mediabao bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help=f"small sizes: everything in under {QUICK_BUDGET_S / 60:.0f} minutes")
    p.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(BENCHES)}")
    p.add_argument("--no-write", action="store_true", help="print the table only")
    p.add_argument("--write-sections", action="store_true",
                   help="each benchmark also rewrites its own section of docs/benchmarks.md")
    p.add_argument("--verbose", action="store_true", help="show the benchmarks' own output")
    p.add_argument("--child", choices=list(BENCHES), help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args.child, args.quick, args.write_sections, args.out)

    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(unknown)} (choose from {', '.join(BENCHES)})")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    started = time.gmtime()
    log_dir = Path(tempfile.mkdtemp(prefix="mediabao-bench-", dir="/tmp"))
    log(f"{len(names)} benchmark(s){' (quick)' if args.quick else ''}: {', '.join(names)}; "
        f"load average {load}; logs in {log_dir}")
    deadline = time.monotonic() + QUICK_BUDGET_S
    results = []
    try:
        for name in names:
            bench = BENCHES[name]
            limit = bench.limit_quick if args.quick else bench.limit_full
            if args.quick:  # the whole quick run stays within its budget
                limit = min(limit, max(30.0, deadline - time.monotonic()))
            log(f"{name}: running (limit {limit:.0f} s)")
            res = run_one(name, args.quick, args.write_sections, limit, log_dir, args.verbose)
            verdict = [r[4] for r in res["rows"]]
            failed = verdict.count("FAIL") + bool(res["error"])
            log(f"{name}: {res['seconds']:.0f} s, {verdict.count('PASS')} PASS, {failed} FAIL"
                + (f"; {res['error']}" if res["error"] else ""))
            results.append(res)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    text = report.table(results)
    print("\n" + text + "\n", flush=True)
    passed, failed = report.verdicts(results)
    print(f"{passed} PASS, {failed} FAIL; {sum(r['seconds'] for r in results) / 60:.1f} min", flush=True)
    if not args.no_write:
        command = "mediabao bench" + (" --quick" if args.quick else "") + (
            f" --only {','.join(names)}" if args.only else "")
        facts = (f"one machine, loopback; Python {platform.python_version()}, {platform.machine()}, "
                 f"{os.cpu_count()} CPUs, load average {load} at the start; measured "
                 f"{time.strftime('%Y-%m-%d %H:%M UTC', started)}")
        notes = ["Quick sizes are smaller than each benchmark's own `--quick`; the sections below "
                 "have the full-size runs and the analysis."] if args.quick else []
        report.write(DOC, report.section(command, facts, results, notes))
        print(f"updated {DOC.relative_to(ROOT)} (summary at the top)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
