"""Child processes of a benchmark: started in their own session, stopped with their tree."""

from __future__ import annotations

import contextlib
import signal
import subprocess
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
