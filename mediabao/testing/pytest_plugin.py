"""Pytest plugin loaded before Django: choose the test servers.

Loaded with ``-p`` (see pyproject), so it runs before pytest-django imports the
settings. With ``DATABASE_URL``/``REDIS_URL`` unset, the settings start embedded
PostgreSQL and Redis under ``var/test`` for the length of the run; with them set
(services mode, as ``.ci/run`` does) the suite uses those servers. A missing server is
an error, never a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]

os.environ.setdefault("MEDIABAO_DATA_DIR", str(_ROOT / "var" / "test"))
os.environ.setdefault("MEDIABAO_PG_FAST", "1")
# Keep test keys and tasks apart from a dev instance that may share the same Redis, and,
# under pytest-xdist, each worker's apart from the others' (the controller process owns
# the embedded servers; workers attach to them; pytest-django gives each its own DB).
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker:
    os.environ["MEDIABAO_CACHE_PREFIX"] = f"mbtest-{_worker}"
    os.environ["MEDIABAO_TASK_QUEUE"] = f"mediabao-test-{_worker}"
else:
    os.environ.setdefault("MEDIABAO_CACHE_PREFIX", "mbtest")
    os.environ.setdefault("MEDIABAO_TASK_QUEUE", "mediabao-test")
os.environ.setdefault("MEDIABAO_LOGIN_RATE_LIMIT", "5/5m")

# The process that runs the session (pytest itself, or pytest-xdist's controller) owns
# the embedded servers: started here, before any worker exists, and stopped when it
# exits after all workers. Workers inherit the URLs instead of starting their own.
if not _worker and not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
    from mediabao import embedded

    _urls = embedded.ensure_servers(Path(os.environ["MEDIABAO_DATA_DIR"]).resolve())
    os.environ.setdefault("DATABASE_URL", _urls.database_url)
    os.environ.setdefault("REDIS_URL", _urls.redis_url)
