"""The health check that asks the server only when the connection's socket says so."""

from __future__ import annotations

import time

import pytest
from django.db import connection, connections

from mediabao.core.postgres.base import DatabaseWrapper

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_platform_uses_it():
    assert isinstance(connections["default"], DatabaseWrapper)


def test_an_idle_healthy_connection_is_usable_without_a_query(monkeypatch):
    connection.ensure_connection()
    asked = []
    monkeypatch.setattr("django.db.backends.postgresql.base.DatabaseWrapper.is_usable",
                        lambda self: asked.append(1) or True)
    assert connection.is_usable()
    assert asked == []


def test_a_connection_the_server_closed_is_not_usable():
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    deadline = time.monotonic() + 5
    while connection.is_usable() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not connection.is_usable()
    # Django's request-start check replaces it, and the next query works
    connection.health_check_done = False
    connection.close_if_health_check_failed()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_after_an_error_the_server_is_asked(monkeypatch):
    connection.ensure_connection()
    asked = []
    monkeypatch.setattr("django.db.backends.postgresql.base.DatabaseWrapper.is_usable",
                        lambda self: asked.append(1) or True)
    connection.errors_occurred = True
    try:
        assert connection.is_usable()
    finally:
        connection.errors_occurred = False
    assert asked == [1]
