"""Statistics tests: mount the app (until WIRING.md is applied) and build rows with known times."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mediabao.campaigns.tests.conftest import make_activity  # noqa: F401 - a fixture (uses our acct)
from mediabao.wechat.models import OfficialAccount

SH = ZoneInfo("Asia/Shanghai")


def _wired() -> bool:
    from django.apps import apps
    from django.urls import NoReverseMatch, reverse

    if not apps.is_installed("mediabao.stats"):
        return False
    try:
        reverse("stats:overview")
        reverse("api:stats-daily")
        return True
    except NoReverseMatch:
        return False


@pytest.fixture(autouse=True)
def _stats_app(settings, tmp_path):
    """Until the lead applies WIRING.md, install the app and use the test urlconf."""
    from django.apps import apps

    settings.MEDIA_ROOT = str(tmp_path / "media")  # activity backgrounds of the scenario

    if not apps.is_installed("mediabao.stats"):
        settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "mediabao.stats"]
    if not _wired():
        settings.ROOT_URLCONF = "mediabao.stats.tests.urls"
    yield


def sh(y: int, m: int, d: int, hh: int = 12, mm: int = 0, ss: int = 0) -> datetime:
    """An instant given in China time."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=SH)


@pytest.fixture
def acct(team_a) -> OfficialAccount:
    return OfficialAccount.objects.create(team=team_a, appid="wxstats00000000001", name="统计号",
                                          appsecret="s" * 32)


@pytest.fixture
def acct2(team_a) -> OfficialAccount:
    return OfficialAccount.objects.create(team=team_a, appid="wxstats00000000002", name="二号",
                                          appsecret="s" * 32)


@pytest.fixture
def other_acct(team_b) -> OfficialAccount:
    return OfficialAccount.objects.create(team=team_b, appid="wxstats00000000009", name="别家号",
                                          appsecret="s" * 32)


__all__ = ["sh", "timedelta", "make_activity"]
