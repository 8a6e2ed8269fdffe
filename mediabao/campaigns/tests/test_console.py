"""Console pages and the REST API: validation (SPEC §5.1), filters, tenancy 404s, CSV."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from mediabao.campaigns import services
from mediabao.campaigns.models import Activity, AwardTier, Participant
from mediabao.wechat.models import OfficialAccount

from .conftest import background_upload, png_bytes

pytestmark = pytest.mark.django_db
FMT = "%Y-%m-%dT%H:%M"


def form_data(acct, **over):
    now = timezone.localtime()
    data = {"name": "双十一裂变", "start_time": (now - timedelta(hours=1)).strftime(FMT),
            "end_time": (now + timedelta(days=5)).strftime(FMT), "accounts": [acct.pk],
            "protection": "on", "deduct_on_unfollow": "on", "join_keyword": "双十一",
            "rules": "邀请 3 位好友关注即可领取", "tier1_invites": "3", "tier1_prize": "笔记本",
            "tier1_stock": "10", "tier2_invites": "10", "tier2_prize": "保温杯", "tier2_stock": "",
            "assist_notice": "{nickname} 助力成功，已邀请 {invites} 人，还差 {remaining} 人可领取 {prize}",
            "tier_notice": "完成第 {level} 级", "unfollow_notice": "{nickname} 取关了",
            "out_of_stock_notice": "{prize} 已发完", "welcome_text": "谢谢",
            "fraud_unfollow_minutes": "10", "fraud_action": "flag",
            "layout_avatar_x": "48", "layout_avatar_y": "1124", "layout_avatar_size": "120",
            "layout_nickname_x": "188", "layout_nickname_y": "1158", "layout_nickname_size": "34",
            "layout_nickname_color": "#222222", "layout_qr_x": "510", "layout_qr_y": "1084",
            "layout_qr_size": "200", "poster_background": background_upload()}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def errors(response) -> dict:
    assert response.status_code == 200, response.status_code
    return response.context["form"].errors


def test_create_activity_then_edit(console, acct):
    response = console.post("/console/campaigns/new/", form_data(acct))
    assert response.status_code == 302, response.context and response.context["form"].errors
    activity = Activity.objects.get()
    assert activity.team == acct.team and list(activity.accounts.all()) == [acct]
    assert (activity.background_width, activity.background_height) == (750, 1334)
    assert [(t.level, t.invites_needed, t.stock, t.remaining) for t in services.tiers(activity)] == [
        (1, 3, 10, 10), (2, 10, None, None)]
    page = console.get(f"/console/campaigns/{activity.pk}/")
    assert page.status_code == 200 and "双十一裂变" in page.content.decode()
    edit = form_data(acct, name="改名", tier2_invites="", tier2_prize="", poster_background=None)
    response = console.post(f"/console/campaigns/{activity.pk}/edit/", edit)
    assert response.status_code == 302, response.context["form"].errors
    activity.refresh_from_db()
    assert activity.name == "改名" and activity.tiers.count() == 1
    assert console.get(f"/console/campaigns/{activity.pk}/edit/").status_code == 200


@pytest.mark.parametrize("over, field", [
    ({"end_time": (timezone.localtime() - timedelta(days=1)).strftime(FMT)}, "end_time"),
    ({"tier2_invites": "3"}, "tier2_invites"),
    ({"tier2_invites": "2"}, "tier2_invites"),
    ({"tier1_invites": "", "tier1_prize": ""}, "tier1_invites"),
    ({"tier3_invites": "20", "tier3_prize": "x", "tier2_invites": "", "tier2_prize": ""}, "tier3_invites"),
    ({"tier2_prize": ""}, "tier2_prize"),
    ({"join_keyword": "   "}, "join_keyword"),
    ({"accounts": []}, "accounts"),
    ({"assist_notice": "{nickname} {bogus}"}, "assist_notice"),
    ({"tier1_stock": "-1"}, "tier1_stock"),
    ({"poster_background": None}, "poster_background"),
    ({"start_time": "tomorrow"}, "start_time"),
])
def test_form_errors(console, acct, over, field):
    response = console.post("/console/campaigns/new/", form_data(acct, **over))
    assert field in errors(response)
    assert not Activity.objects.exists()


def _file(data: bytes, name="bg.png", ctype="image/png"):
    return SimpleUploadedFile(name, data, content_type=ctype)


def _bomb() -> bytes:
    buf = io.BytesIO()
    Image.new("1", (10000, 10000), 0).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("upload", [
    lambda: _file(b"not an image at all"),
    lambda: _file(b"\x89PNG\r\n\x1a\n" + b"0" * 100),
    lambda: _file(b"\xff\xd8\xff" + b"\0" * (20 * 1024 * 1024), "big.jpg", "image/jpeg"),
    lambda: _file(_bomb()),
    lambda: _file(png_bytes(300, 300)),  # too small for the layout
])
def test_bad_backgrounds_are_form_errors(console, acct, upload):
    response = console.post("/console/campaigns/new/", form_data(acct, poster_background=upload()))
    form_errors = errors(response)
    assert "poster_background" in form_errors or "__all__" in form_errors
    assert not Activity.objects.exists()


def test_keyword_unique_among_the_accounts_running_activities(console, acct, make_activity):
    make_activity(keyword="双十一", name="先来的")
    response = console.post("/console/campaigns/new/", form_data(acct))
    assert "先来的" in str(errors(response)["join_keyword"])
    # an ended activity with the same keyword does not block
    Activity.objects.update(end_time=timezone.now() - timedelta(minutes=1),
                            start_time=timezone.now() - timedelta(days=1))
    assert console.post("/console/campaigns/new/", form_data(acct)).status_code == 302


def test_another_teams_account_cannot_be_bound(console, acct, team_b):
    theirs = OfficialAccount.objects.create(team=team_b, appid="wxcampB00000000009", name="B")
    response = console.post("/console/campaigns/new/", form_data(acct, accounts=[theirs.pk]))
    assert "accounts" in errors(response)


def test_list_filters(console, acct, make_activity):
    now = timezone.now()
    make_activity(name="进行中", keyword="a")
    make_activity(name="未开始", keyword="b", start=now + timedelta(days=1), end=now + timedelta(days=2))
    make_activity(name="已结束", keyword="c", start=now - timedelta(days=2), end=now - timedelta(days=1))
    other = OfficialAccount.objects.create(team=acct.team, appid="wxcamp000000000003", name="另一个")
    make_activity(name="别的号", keyword="d", accounts=[other])

    def names(query):
        return {a.name for a in console.get("/console/campaigns/" + query).context["page"]}

    assert names("") == {"进行中", "未开始", "已结束", "别的号"}
    assert names("?state=running") == {"进行中", "别的号"}
    assert names("?state=upcoming") == {"未开始"}
    assert names("?state=ended") == {"已结束"}
    assert names(f"?account={other.pk}") == {"别的号"}
    assert names("?q=结束") == {"已结束"}
    assert console.get("/console/campaigns/?state=bogus&account=x").status_code == 200


def test_tenancy_404s(console, api, team_b, make_activity):
    theirs_acct = OfficialAccount.objects.create(team=team_b, appid="wxcampB00000000002", name="B")
    theirs = make_activity(team=team_b, accounts=[theirs_acct])
    p = services.join(theirs, theirs_acct, "o")
    for url in [f"/console/campaigns/{theirs.pk}/", f"/console/campaigns/{theirs.pk}/edit/",
                f"/console/campaigns/participants/{p.pk}/"]:
        assert console.get(url).status_code == 404, url
    assert console.post(f"/console/campaigns/participants/{p.pk}/blacklist/",
                        {"blacklisted": "1"}).status_code == 404
    assert api.get(f"/api/v1/activities/{theirs.pk}/").status_code == 404
    assert api.patch(f"/api/v1/activities/{theirs.pk}/", {"name": "x"}, format="json").status_code == 404
    assert api.delete(f"/api/v1/activities/{theirs.pk}/").status_code == 404
    assert api.get(f"/api/v1/participants/{p.pk}/").status_code == 404
    assert api.get("/api/v1/activities/").json()["count"] == 0
    assert api.get("/api/v1/participants/").json()["count"] == 0
    assert console.get("/console/campaigns/participants.csv").content.decode().count("\n") == 1
    Participant.objects.get(pk=p.pk)  # untouched


def test_participants_filters_tree_csv_and_blacklist(console, acct, make_activity):
    activity = make_activity()
    seed = services.join(activity, acct, "seed", nickname="=cmd|' /C calc'!A0")
    for n in range(3):
        services.record_assist(acct, f"f{n}", seed.scene, new_fan=True)
    child = services.join(activity, acct, "f0", nickname="小红")
    services.record_assist(acct, "g0", child.scene, new_fan=True)
    services.record_unfollow(acct, "f2")

    def openids(query):
        return {p.openid for p in console.get("/console/campaigns/participants/" + query).context["page"]}

    assert openids("") == {"seed", "f0", "f1", "f2", "g0"}
    assert openids("?joined=1") == {"seed", "f0"}
    assert openids("?following=0") == {"f2"}
    assert openids("?q=小红") == {"f0"}
    assert openids("?q=g0") == {"g0"}
    assert openids(f"?activity={activity.pk}&tier=1") == {"seed"}  # reached 3, kept after a deduction
    assert openids("?tier=2") == set()
    page = console.get(f"/console/campaigns/participants/{seed.pk}/")
    tree = [(depth, p.openid) for depth, p in page.context["tree"]]
    assert tree == [(1, "f0"), (2, "g0"), (1, "f1"), (1, "f2")]
    assert [a.fan_openid for a in page.context["assists"]] == ["f2", "f1", "f0"]
    assert page.content.decode().count("badge text-bg-warning") >= 1
    csv_text = console.get("/console/campaigns/participants.csv?joined=1").content.decode("utf-8-sig")
    assert csv_text.count("\n") == 3 and "'=cmd" in csv_text
    response = console.post(f"/console/campaigns/participants/{seed.pk}/blacklist/", {"blacklisted": "1"})
    assert response.status_code == 302
    seed.refresh_from_db()
    assert seed.blacklisted
    assert openids("?blacklisted=1") == {"seed"}
    assert seed not in services.leaderboard(activity)
    console.post(f"/console/campaigns/participants/{seed.pk}/blacklist/", {"blacklisted": "0"})
    seed.refresh_from_db()
    assert not seed.blacklisted


def test_api_create_validate_update_list(api, acct):
    now = timezone.now()
    body = {"name": "API 活动", "start_time": now.isoformat(),
            "end_time": (now - timedelta(days=1)).isoformat(),
            "accounts": [acct.pk], "join_keyword": "api", "rules": "规则",
            "tiers": [{"invites_needed": 5, "prize": "A"}, {"invites_needed": 5, "prize": "B"}]}
    response = api.post("/api/v1/activities/", {**body, "poster_background": background_upload()},
                        format="multipart")
    assert response.status_code == 400
    # multipart cannot nest lists of objects: JSON bodies carry tiers; multipart the file
    response = api.post("/api/v1/activities/", body, format="json")
    fields = response.json()["fields"]
    assert response.status_code == 400 and "end_time" in fields and "tier2_invites" in fields
    assert "poster_background" in fields
    data = {"name": "API 活动", "start_time": now.strftime("%Y-%m-%d %H:%M"),
            "end_time": (now + timedelta(days=3)).strftime("%Y-%m-%d %H:%M"), "accounts": acct.pk,
            "join_keyword": "api", "rules": "规则", "tier1_invites": 2, "tier1_prize": "A",
            "poster_background": background_upload()}
    response = api.post("/api/v1/activities/", data, format="multipart")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["state"] == "running" and created["tiers"][0]["invites_needed"] == 2
    response = api.patch(f"/api/v1/activities/{created['id']}/",
                         {"name": "改名", "tiers": [{"invites_needed": 2, "prize": "A", "stock": 5},
                                                    {"invites_needed": 4, "prize": "B"}]}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "改名" and len(response.json()["tiers"]) == 2
    assert response.json()["start_time"] == created["start_time"]  # untouched fields keep their value
    assert response.json()["end_time"] == created["end_time"]
    assert AwardTier.objects.get(activity_id=created["id"], level=1).remaining == 5
    assert api.get("/api/v1/activities/").json()["count"] == 1
    activity = Activity.objects.get()
    services.join(activity, acct, "o1")
    listed = api.get(f"/api/v1/participants/?activity={activity.pk}&joined=1").json()
    assert listed["count"] == 1 and listed["results"][0]["openid"] == "o1"
    assert api.get("/api/v1/participants/?activity=abc").status_code == 400
    assert api.delete(f"/api/v1/activities/{activity.pk}/").status_code == 204
