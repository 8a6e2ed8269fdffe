"""The deployment scenario in small (``python -m scenario.run --small``), as one test.

Real processes in services mode (own PostgreSQL and Redis, wxsim, 2 gunicorn behind the
round-robin proxy, 2 Celery workers, beat), 2,000 fans, a 1,000-recipient template job
with a worker ``kill -9`` and a PostgreSQL restart, a 200-fan crowd with a Redis restart,
every figure checked against wxsim's ground truth. It takes a few minutes on 2 cores, so
it runs only when asked: ``MEDIABAO_SCENARIO=1`` (see README.md). Without it the root
conftest leaves this module out of the collection, so a default run neither runs it nor
lists it as skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mediabao.embedded import free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(1500),
]
ROOT = Path(__file__).resolve().parents[1]


def test_small_scenario_matches_the_ground_truth():
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "MEDIABAO_CACHE_PREFIX", "MEDIABAO_TASK_QUEUE")}
    cmd = [sys.executable, "-m", "scenario.run", "--small", "--pg-port", str(free_port()),
           "--redis-port", str(free_port()), "--max-minutes", "20"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1400)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "RESULT: OK" in out, out[-12000:]
    assert "kill -9 of worker1" in out and "PostgreSQL fast restart" in out and "Redis restart" in out
    assert "MISMATCH |" not in out
    assert "still running" not in out  # every process of the scenario was stopped
