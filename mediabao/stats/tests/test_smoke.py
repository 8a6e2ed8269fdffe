"""The page, the CSV and the API answer with an empty team."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_page_csv_api_answer(console, api):
    page = console.get(reverse("stats:overview"))
    assert page.status_code == 200
    assert b'id="chart-growth"' in page.content and b"<svg" in page.content
    csv = console.get(reverse("stats:daily_csv"))
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    assert len(csv.content.decode("utf-8-sig").strip().splitlines()) == 1 + 30 + 1
    body = api.get(reverse("api:stats-daily")).json()
    assert len(body["days"]) == 30 and body["totals"]["net"] == 0
