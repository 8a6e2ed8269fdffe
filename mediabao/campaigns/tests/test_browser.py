"""Acceptance: an operator creates an activity with a poster in Chromium; a scripted fan
joins through wxsim and twenty friends scan the poster; the console agrees."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mediabao.campaigns.models import Activity, Notice, Participant
from mediabao.testing.browser import launch, log_in

from .conftest import png_bytes
from .test_live import news_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]
FMT = "%Y-%m-%dT%H:%M"


def test_create_in_chromium_then_fans_spread_it(live_account, live_server, sim, owner, tmp_path,
                                                monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the test's own ORM reads
    # between page steps are synchronous and safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    background = tmp_path / "春季海报.png"
    background.write_bytes(png_bytes())
    url = live_server.url
    now = timezone.localtime()
    csp_errors: list[str] = []
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(locale="zh-CN")
            logs: list[str] = []
            page.on("console", lambda m: logs.append(m.text))
            page.on("pageerror", lambda e: logs.append(str(e)))
            page.on("console", lambda m: csp_errors.append(m.text)
                    if "Content Security Policy" in m.text else None)
            log_in(page, url, owner.username)
            page.goto(f"{url}/console/campaigns/new/")
            page.fill("#id_name", "浏览器裂变")
            page.fill("#id_start_time", (now - timedelta(minutes=5)).strftime(FMT))
            page.fill("#id_end_time", (now + timedelta(days=7)).strftime(FMT))
            page.check(f"input[name=accounts][value='{live_account.pk}']")
            page.fill("#id_join_keyword", "裂变")
            page.fill("#id_rules", "邀请 20 位好友关注，领取保温杯")
            page.fill("#id_tier1_invites", "10")
            page.fill("#id_tier1_prize", "贴纸")
            page.fill("#id_tier1_stock", "5")
            page.fill("#id_tier2_invites", "20")
            page.fill("#id_tier2_prize", "保温杯")
            page.set_input_files("#id_poster_background", str(background))
            # drag the QR code 100 screen pixels up on the editor (the stage shows it at half size)
            qr = page.locator(".box-qr")
            qr.wait_for(state="visible")
            qr.scroll_into_view_if_needed()
            box = qr.bounding_box()
            scale = box["width"] / 200
            page.mouse.move(box["x"] + 10, box["y"] + 10)
            page.mouse.down()
            page.mouse.move(box["x"] + 10, box["y"] + 10 - 100 * scale, steps=5)
            page.mouse.up()
            assert page.input_value("#id_layout_qr_y") == "984", logs
            page.click("#save-activity")
            page.wait_for_url(f"{url}/console/campaigns/*/")
            assert "浏览器裂变" in page.inner_text("main")
            activity = Activity.objects.get(name="浏览器裂变")
            assert activity.poster_layout["qr_y"] == 984

            # a scripted fan joins, twenty friends scan the poster
            seed = sim.create_fans(live_account.appid, 1)[0]
            assert sim.fan_send_text(live_account.appid, seed, "裂变")["status"] == "reply"
            opened = sim.fan_open(live_account.appid, seed, news_url(sim.inbox(live_account.appid, seed)))
            assert opened["status"] == 200 and 'id="poster"' in opened["body"]
            inviter = Participant.objects.get(activity=activity, openid=seed)
            for friend in sim.create_fans(live_account.appid, 20, following=False):
                assert sim.fan_scan(live_account.appid, friend, inviter.qr_ticket)["status"] == "reply"

            page.goto(f"{url}/console/campaigns/{activity.pk}/")
            board = page.inner_text("#leaderboard")
            assert inviter.nickname in board and "20" in board
            page.goto(f"{url}/console/campaigns/participants/?activity={activity.pk}")
            assert page.locator("#participants tbody tr").count() == 20  # first page of 21
            page.goto(f"{url}/console/campaigns/participants/{inviter.pk}/")
            assert page.locator("#invite-tree li").count() == 20
            # the fan's own page, as the phone shows it
            mobile = browser.new_page(viewport={"width": 375, "height": 740}, locale="zh-CN")
            mobile.on("console", lambda m: csp_errors.append(m.text)
                      if "Content Security Policy" in m.text else None)
            final = opened["final_url"]
            mobile.goto(final if final.startswith("http") else url + final)
            assert mobile.inner_text("#progress .invites") == "20"
            assert mobile.evaluate("document.querySelector('#poster').naturalWidth") == 750
        finally:
            browser.close()
    inviter.refresh_from_db()
    assert inviter.invites == 20 and inviter.tiers_completed == 2
    assert Notice.objects.filter(participant=inviter, key__startswith="assist:").count() == 20
    assert csp_errors == []
