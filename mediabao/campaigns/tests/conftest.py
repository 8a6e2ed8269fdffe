"""Fixtures of the campaign tests: an account, a background image, an activity factory."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.utils import timezone
from PIL import Image

from mediabao.campaigns.forms import save_tiers
from mediabao.campaigns.models import Activity
from mediabao.wechat.models import OfficialAccount


def _wired() -> bool:
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("campaigns:list")
        reverse("campaigns_public:oauth", args=[1])
        reverse("api:activity-list")
        return True
    except NoReverseMatch:
        return False


@pytest.fixture(autouse=True)
def _campaign_urls(settings, tmp_path):
    """Until the lead applies WIRING.md, mount the pages through a test urlconf."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    if not _wired():
        settings.ROOT_URLCONF = "mediabao.campaigns.tests.urls"
    yield


def png_bytes(width: int = 750, height: int = 1334, color=(240, 200, 120)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


def background_upload(**kw) -> SimpleUploadedFile:
    return SimpleUploadedFile("bg.png", png_bytes(**kw), content_type="image/png")


@pytest.fixture
def acct(team_a):
    return OfficialAccount.objects.create(team=team_a, appid="wxcamp000000000001", name="裂变号",
                                          appsecret="s" * 32)


@pytest.fixture
def make_activity(team_a, acct):
    def make(*, accounts=None, tiers=((3, "笔记本", None),), start=None, end=None, keyword="海报",
             team=None, **fields) -> Activity:
        now = timezone.now()
        activity = Activity(team=team or team_a, name=fields.pop("name", "春季裂变"),
                            start_time=start or now - timedelta(hours=1),
                            end_time=end or now + timedelta(days=7), join_keyword=keyword,
                            rules="邀请好友关注即可领奖", **fields)
        activity.poster_background.save("bg.png", background_upload(), save=False)
        activity.save()
        activity.accounts.set(accounts if accounts is not None else [acct])
        save_tiers(activity, [(n, invites, prize, stock) for n, (invites, prize, stock)
                              in enumerate(tiers, start=1)])
        return activity

    return make


@pytest.fixture
def live_account(live_server, settings, sim, team_a):
    db = connections.settings["default"]
    max_age, db["CONN_MAX_AGE"] = db["CONN_MAX_AGE"], 0
    settings.PUBLIC_BASE_URL = live_server.url
    from mediabao.celery import app as celery_app

    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    mp = sim.create_account(name="裂变直播号", encrypt_mode="safe")
    account = OfficialAccount.objects.create(
        team=team_a, appid=mp["appid"], name=mp["name"], appsecret=mp["secret"],
        callback_token=mp["token"], encoding_aes_key=mp["encoding_aes_key"])
    sim.update_account(mp["appid"], server_url=f"{live_server.url}/wechat/callback/{mp['appid']}/")
    yield account
    celery_app.conf.task_always_eager = eager
    db["CONN_MAX_AGE"] = max_age
