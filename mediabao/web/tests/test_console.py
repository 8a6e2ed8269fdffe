"""The console shell: Chinese by default, real counts, security headers, local assets."""

from __future__ import annotations

import pytest

from mediabao.wechat.models import OfficialAccount

pytestmark = pytest.mark.django_db

NAV = ["公众号", "粉丝", "消息宝", "任务宝", "推广码", "数据统计", "团队设置"]


def test_navigation_is_chinese_by_default(console):
    page = console.get("/console/").content.decode()
    for label in NAV:
        assert label in page


def test_english_is_available(console):
    console.cookies["django_language"] = "en"
    page = console.get("/console/").content.decode()
    assert "Official accounts" in page and "Team settings" in page


def test_dashboard_shows_real_counts(console, team_a, team_b):
    OfficialAccount.objects.create(team=team_a, appid="wx1", name="一号")
    OfficialAccount.objects.create(team=team_a, appid="wx2", name="二号",
                                   state=OfficialAccount.State.NEEDS_REAUTH)
    OfficialAccount.objects.create(team=team_b, appid="wx3", name="别人的")
    from django.utils import timezone

    from mediabao.fans import services as fans

    one = OfficialAccount.objects.get(appid="wx1")
    fans.record_subscribe(one, "o-1", timezone.now())
    fans.record_subscribe(one, "o-2", timezone.now())
    fans.record_unsubscribe(one, "o-2", timezone.now())
    page = console.get("/console/").content.decode()
    assert 'data-count="fans">1<' in page
    assert 'data-count="accounts">2<' in page
    assert 'data-count="members">1<' in page


def test_csp_and_security_headers(console):
    response = console.get("/console/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_assets_are_local_and_served(console, client):
    page = console.get("/console/").content.decode()
    assert "https://" not in page.split("<body")[0]
    for path in ("/static/css/bootstrap.min.css", "/static/js/bootstrap.bundle.min.js",
                 "/static/django_htmx/htmx-2.min.js", "/static/web/console.css"):
        assert client.get(path).status_code == 200, path


def test_anonymous_is_sent_to_login(client):
    response = client.get("/console/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_unknown_console_page_is_a_friendly_404(console):
    response = console.get("/console/nope/")
    assert response.status_code == 404
    assert b"Traceback" not in response.content


def test_every_section_of_the_navigation_opens(console):
    for path in ("/console/mp/", "/console/fans/", "/console/keywords/", "/console/messages/",
                 "/console/campaigns/", "/console/channels/", "/console/stats/", "/accounts/team/"):
        assert console.get(path).status_code == 200, path
