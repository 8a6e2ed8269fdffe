"""In Chromium: create a promo code, see its QR and chart, download the PNG; no CSP violation."""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from PIL import Image

from mediabao.channels.models import Channel
from mediabao.testing.browser import console_page

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def live(live_server, sim, account):
    sim.update_account(account.appid, server_url=f"{live_server.url}/wechat/callback/{account.appid}/")
    db = connections.settings["default"]
    max_age, db["CONN_MAX_AGE"] = db["CONN_MAX_AGE"], 0
    yield live_server
    db["CONN_MAX_AGE"] = max_age


def test_create_view_and_download_in_chromium(live, sim, account, owner):
    url = live.url
    shots = os.environ.get("CHANNELS_SCREENSHOTS")  # a folder, to look at the pages
    problems: list[str] = []
    with console_page(url, owner.username, problems, viewport={"width": 1280, "height": 1000},
                      accept_downloads=True) as page:
        page.goto(f"{url}/console/channels/")
        page.click("#new-channel")
        page.click("button.btn-primary")  # empty form: errors, nothing created
        assert page.locator(".invalid-feedback").count() >= 2
        if shots:
            page.screenshot(path=os.path.join(shots, "channel-form-errors.png"), full_page=True)
        page.select_option("select[name=account]", str(account.pk))
        page.fill("input[name=name]", "门店海报")
        page.fill("textarea[name=note]", "静安店收银台")
        page.click("button.btn-primary")
        page.wait_for_url(f"{url}/console/channels/*/")
        # (Playwright runs an event loop in this thread: the ORM goes to another one)
        with ThreadPoolExecutor(1) as pool:
            channel = pool.submit(lambda: Channel.objects.get()).result()
        # a fan follows through the code while the operator looks at the page
        fan = sim.create_fans(account.appid, 1, following=False)[0]
        assert sim.fan_subscribe(account.appid, fan, ticket=channel.ticket)["status"] == "ok"
        page.reload()
        assert page.inner_text("#total-new") == "1"
        assert page.evaluate("document.querySelector('#qr-preview').naturalWidth") > 0
        assert page.locator("#stats-chart svg polyline").count() == 1
        if shots:
            page.screenshot(path=os.path.join(shots, "channel-detail.png"), full_page=True)
        with page.expect_download() as info:
            page.click("#download-png")
        download = info.value
        assert download.suggested_filename == "门店海报-430px.png"
        with open(download.path(), "rb") as fh:
            assert Image.open(io.BytesIO(fh.read())).size == (430, 430)
        page.goto(f"{url}/console/channels/")
        assert "门店海报" in page.inner_text("main")
        if shots:
            page.screenshot(path=os.path.join(shots, "channel-list.png"), full_page=True)
    assert not problems
