"""Django's PostgreSQL backend, with a health check that usually costs no round trip.

``CONN_HEALTH_CHECKS`` makes Django run ``SELECT 1`` at the start of every request
that reuses a connection: one more round trip than the request itself needs, on every
WeChat callback and console page. A connection the server has closed (a restart, an
idle timeout, a terminated backend) has something to read: the server's error message
and then end-of-file. So an idle connection whose socket has nothing to read is taken
as usable without asking the server; only a readable socket, a connection psycopg
already knows is broken, or a connection after an error gets the full ``SELECT 1``.
A silently dropped network path is not detected this way, but ``SELECT 1`` would only
hang on it too; the query that follows fails and Django closes the connection.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base


def _has_input(fileno: int) -> bool:
    poller = select.poll()
    poller.register(fileno, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        conn = self.connection
        if conn is None or conn.closed or getattr(conn, "broken", False):
            return False
        if not self.errors_occurred:
            try:
                if not _has_input(conn.fileno()):
                    return True
            except (OSError, ValueError):
                return False
        return super().is_usable()
