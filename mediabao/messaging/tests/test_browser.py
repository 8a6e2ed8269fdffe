"""In Chromium: compose a template message with the live preview and audience size (htmx,
strict CSP), send it, and watch the job's progress bar poll to done. The job runs in a
thread of the test process (``engine.run``), not on a Celery worker."""

from __future__ import annotations

import os
import threading

import pytest
from django.db import connection, connections

from mediabao.messaging import engine, services
from mediabao.testing.browser import console_page

from .conftest import inbox_counts, make_fans

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def live(live_server, monkeypatch):
    db = connections.settings["default"]
    max_age, db["CONN_MAX_AGE"] = db["CONN_MAX_AGE"], 0

    def run_in_thread(job_id: int, runners=None) -> None:
        def target() -> None:
            try:
                engine.run(job_id)
            finally:
                connection.close()

        threading.Thread(target=target, daemon=True).start()

    monkeypatch.setattr(services, "launch", run_in_thread)
    yield live_server
    db["CONN_MAX_AGE"] = max_age


def test_compose_preview_send_and_progress(live, wxsim, account, templates, owner):
    from playwright.sync_api import expect

    openids = make_fans(wxsim, account, 40)
    url = live.url
    shots = os.environ.get("MESSAGING_SCREENSHOTS")
    problems: list[str] = []
    with console_page(url, owner.username, problems, viewport={"width": 1280, "height": 1100}) as page:
        tpl = templates["legacy"]
        page.goto(f"{url}/console/messages/new/?account={account.pk}&kind=template&template={tpl.pk}")
        expect(page.locator("#audience-size")).to_contain_text("40")
        page.fill("input[name=f_keyword1]", "这是一个超过二十个字的订单号用于测试截断效果真的很长")
        page.fill("input[name=f_keyword2]", "已发货")
        page.fill("input[name=f_remark]", "感谢")
        expect(page.locator("#preview")).to_contain_text("…")
        expect(page.locator(".preview-warnings")).to_contain_text("remark")
        if shots:
            page.screenshot(path=os.path.join(shots, "compose.png"), full_page=True)
        page.click("#send-button")
        page.wait_for_url(f"{url}/console/messages/jobs/*/")
        expect(page.locator(".job-progress[data-state=done]")).to_be_visible(timeout=30_000)
        expect(page.locator(".job-progress")).to_contain_text("40 / 40")
        if shots:
            page.screenshot(path=os.path.join(shots, "job.png"), full_page=True)
    assert not problems, problems
    assert inbox_counts(wxsim, account.appid) == dict.fromkeys(openids, 1)
