"""Schemathesis against ``/api/schema/``, in-process through the WSGI app, as the owner of
a team with one object of every kind.

Every operation gets ``MEDIABAO_SCHEMATHESIS_EXAMPLES`` (default 4) valid and as many invalid
generated requests; half of them aim at the team's real object for ``{id}``. Checks: no 5xx,
every status code documented, content type, headers and body as documented. The test
prints a summary per operation and fails listing every operation with a problem.

Larger sweep on demand::

    MEDIABAO_SCHEMATHESIS_EXAMPLES=200 .venv/bin/pytest tests/security/test_schemathesis.py -n 0 -s
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rest_framework.throttling import UserRateThrottle
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mediabao.accounts import services as accounts
from mediabao.accounts.models import ApiToken
from tests.security.world import basename

EXAMPLES = int(os.environ.get("MEDIABAO_SCHEMATHESIS_EXAMPLES", "4"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


def _text(failure: Failure) -> str:
    detail = " | ".join(line.strip() for line in (failure.message or "").splitlines() if line.strip())
    return f"{failure.title}: {detail}"[:300]


@pytest.fixture
def wsgi_app():
    """The real WSGI handler, minus the per-request connection closing (as Django's test
    client does): the test's transaction must survive the requests."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.mark.timeout(1800)
def test_api_conforms_to_its_schema(world, wsgi_app, monkeypatch, capsys):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "1000000/min"})
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)
    created = accounts.create_api_token(user=world.owner, team=world.team, name="schemathesis")
    headers = {"Authorization": f"Token {created.key}"}
    calls: dict[str, Counter] = defaultdict(Counter)
    problems: dict[str, set[str]] = defaultdict(set)
    no_negative: list[str] = []

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40
    for operation in operations:
        real_id = world.ids.get(basename(operation.path))

        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode), aim=st.booleans())
            def run(case, aim) -> None:
                if aim and real_id is not None and "id" in (case.path_parameters or {}):
                    case.path_parameters["id"] = real_id
                # a generated DELETE may revoke the sweep's own token: keep it usable
                ApiToken.objects.filter(pk=created.token.pk).update(revoked_at=None)
                response = case.call(headers=headers)
                calls[operation.label][response.status_code] += 1
                try:
                    case.validate_response(response, checks=CHECKS, headers=headers)
                except (FailureGroup, Failure) as exc:
                    for failure in getattr(exc, "exceptions", [exc]):
                        problems[operation.label].add(
                            f"{mode.value} {response.status_code}: {_text(failure)}")

            try:
                run()
            except Unsatisfiable:
                if mode is GenerationMode.POSITIVE:
                    raise
                no_negative.append(operation.label)  # nothing to make invalid (no parameters)

    with capsys.disabled():
        total = sum(sum(c.values()) for c in calls.values())
        print(f"\nschemathesis: {len(operations)} operations, {total} requests, "
              f"{EXAMPLES} examples per operation and mode, {len(problems)} with problems "
              f"({len(no_negative)} without invalid input to generate)")
        if no_negative:
            print(f"  no invalid input to generate: {', '.join(no_negative)}")
        for label in sorted(calls):
            codes = " ".join(f"{code}×{n}" for code, n in sorted(calls[label].items()))
            print(f"  {'FAIL' if label in problems else 'ok  '} {label:<62} {codes}")
        for label in sorted(problems):
            for problem in sorted(problems[label]):
                print(f"  !! {label}: {problem}")
    assert not problems, sorted(problems)
