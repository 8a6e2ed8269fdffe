"""In Chromium: the statistics page with a known history, the filters and presets, the
CSV download; no CSP violation (the charts are server-drawn SVG)."""

from __future__ import annotations

import os

import pytest
from django.db import connections

from mediabao.stats.tests.scenario import build
from mediabao.testing.browser import console_page

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def live(live_server):
    db = connections.settings["default"]
    max_age, db["CONN_MAX_AGE"] = db["CONN_MAX_AGE"], 0
    yield live_server
    db["CONN_MAX_AGE"] = max_age


def test_statistics_page_in_chromium(live, owner, acct, acct2, other_acct, make_activity):
    world = build(acct=acct, acct2=acct2, other_acct=other_acct, make_activity=make_activity)
    url = live.url
    shots = os.environ.get("STATS_SCREENSHOTS")  # a folder, to look at the page
    problems: list[str] = []
    with console_page(url, owner.username, problems, viewport={"width": 1280, "height": 1000},
                      accept_downloads=True) as page:
        page.goto(f"{url}/console/stats/")
        page.click("#preset-7")
        page.wait_for_url("**/console/stats/?start=*")
        assert page.locator("#daily-table tbody tr").count() == 7
        page.fill("input[name=start]", "2026-03-01")
        page.fill("input[name=end]", "2026-03-03")
        page.click("#stats-show")
        page.wait_for_url("**end=2026-03-03*")
        assert page.inner_text("#card-new_fans") == "8"
        assert page.inner_text("#card-assists") == "2"
        assert page.locator("#chart-growth svg rect").count() > 0
        assert page.locator("#levels-table tbody tr").count() == 2
        if shots:
            page.screenshot(path=os.path.join(shots, "stats.png"), full_page=True)
        page.select_option("select[name=activity]", str(world.activity.pk))
        page.click("#stats-show")
        page.wait_for_url(f"**activity={world.activity.pk}*")
        assert page.inner_text("#card-new_fans") == "2"
        with page.expect_download() as download:
            page.click("#stats-csv")
        path = download.value.path()
        with open(path, encoding="utf-8-sig") as fh:
            lines = fh.read().strip().splitlines()
        assert len(lines) == 1 + 3 + 1 and lines[2].startswith("2026-03-02,2,0,2,0,2,1")
    assert problems == []
