"""Child processes of a benchmark: started in their own session, stopped with their tree."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from mediabao.embedded import die_with_parent, stop_pid


class Procs:
    """Start children (logs to files); :meth:`stop_all` stops them, newest first."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, cmd: list[str], env: dict, log: Path,
              stop_signal: int = signal.SIGTERM) -> subprocess.Popen:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as fh:
            proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, preexec_fn=die_with_parent,
                                    start_new_session=True)
        proc.stop_signal = stop_signal  # type: ignore[attr-defined]
        self.children.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 20.0) -> None:
        if proc.poll() is None:
            stop_pid(proc.pid, timeout=timeout, sig=getattr(proc, "stop_signal", signal.SIGTERM))
        with contextlib.suppress(Exception):
            proc.wait(5)
        self.children = [(n, p) for n, p in self.children if p is not proc]

    def stop_all(self) -> None:
        for _name, proc in reversed(list(self.children)):
            self.stop(proc)


def tree_rss(pid: int) -> int:
    """RSS of a process and all its descendants, in bytes (0 when it is gone)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def start_worker(procs: Procs, env: dict, data_dir: Path, label: str,
                 extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """A real Celery worker (``-c 1``) on the run's queue (``MEDIABAO_TASK_QUEUE``), its
    log in ``<data_dir>/log/worker-<label>.log``; returns once it answers a ping."""
    from mediabao.celery import app as celery_app

    name = f"bench-{label}-{os.getpid()}@{socket.gethostname()}"
    proc = procs.start(f"worker-{label}", [sys.executable, "-m", "celery", "-A", "mediabao", "worker",
                                           "-l", "INFO", "-c", "1", "-Q", env["MEDIABAO_TASK_QUEUE"],
                                           "-n", name, *extra],
                       env, data_dir / "log" / f"worker-{label}.log")
    deadline = time.monotonic() + 90
    while not celery_app.control.ping(destination=[name], timeout=1.0):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker {label} did not start (see {data_dir}/log/worker-{label}.log)")
    return proc
