"""A small process supervisor for ``mediabao up``.

Each child runs in its own session (so a terminal's Ctrl-C reaches only ``up``, which
then stops the children in order) and gets a parent-death signal (so a ``kill -9`` of
``up`` still stops them). Their pids are recorded under ``<data>/run/children.json`` so
the next ``up`` can stop any that survived. A child that dies is restarted with a
backoff; one that keeps dying stops everything with a clear message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mediabao.embedded import die_with_parent, process_matches, stop_pid

log = logging.getLogger("mediabao.up")

MAX_RESTARTS = 5
RESTART_WINDOW = 60.0


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    logfile: Path
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 15.0
    proc: subprocess.Popen | None = None
    restarts: list[float] = field(default_factory=list)

    def start(self) -> None:
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        with open(self.logfile, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent,
            )
        log.info("started %s (pid %s)", self.name, self.proc.pid)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if not self.proc:
            return
        if self.proc.poll() is None:
            stop_pid(self.proc.pid, timeout=self.stop_timeout, sig=self.stop_signal)
        # Whatever the child left in its process group (pool workers) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


class Supervisor:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.children: list[Child] = []
        self.stopping = False

    @property
    def _pids_file(self) -> Path:
        return self.run_dir / "children.json"

    def stop_leftovers(self) -> None:
        """Stop children recorded by an earlier ``up`` that was killed without cleanup."""
        try:
            recorded = json.loads(self._pids_file.read_text())
        except (OSError, ValueError):
            return
        for name, info in recorded.items():
            if process_matches(info.get("pid"), info.get("match", "")):
                log.warning("stopping %s left over by an earlier run (pid %s)", name, info["pid"])
                stop_pid(info["pid"])
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(info["pid"], signal.SIGKILL)
        self._pids_file.unlink(missing_ok=True)

    def _record(self) -> None:
        data = {c.name: {"pid": c.proc.pid, "match": _match(c.argv)}
                for c in self.children if c.proc}
        tmp = self._pids_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self._pids_file)

    def add(self, child: Child) -> None:
        self.children.append(child)
        child.start()
        self._record()

    def check(self) -> str | None:
        """Restart dead children; return a reason to stop everything, or None."""
        for child in self.children:
            if child.alive or self.stopping:
                continue
            code = child.proc.returncode if child.proc else None
            now = time.monotonic()
            child.restarts = [t for t in child.restarts if now - t < RESTART_WINDOW]
            if len(child.restarts) >= MAX_RESTARTS:
                return (f"{child.name} exited (code {code}) {MAX_RESTARTS} times within "
                        f"{int(RESTART_WINDOW)} s; see {child.logfile}")
            log.warning("%s exited with code %s; restarting", child.name, code)
            child.restarts.append(now)
            time.sleep(min(2 ** len(child.restarts) * 0.25, 5))
            child.start()
            self._record()
        return None

    def stop_all(self) -> None:
        """Stop every child at once (each with its own grace period), then forget them."""
        self.stopping = True
        names = ", ".join(child.name for child in self.children)
        if names:
            log.info("stopping %s", names)
        threads = [threading.Thread(target=child.stop, name=f"stop-{child.name}")
                   for child in self.children]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self._pids_file.unlink(missing_ok=True)


def _match(argv: list[str]) -> str:
    """A piece of the command line that identifies the child in ``ps`` (not just python)."""
    for part in argv[1:]:
        if not part.startswith("-"):
            return part
    return argv[0]
