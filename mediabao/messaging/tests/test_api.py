"""REST API: validation as 400 with field errors, tenancy as 404, life cycle, uploads,
and TEMPLATESENDJOBFINISH through the real callback view. The engine is run in-process."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from mediabao.messaging import engine
from mediabao.messaging.models import Recipient, SendJob
from mediabao.wechat.models import OfficialAccount
from mediabao.wechat.tests.test_callbacks import Push, xml_of

from .conftest import make_fans

pytestmark = pytest.mark.django_db
JOBS = "/api/v1/message-jobs/"


def legacy_payload(account, templates, **data):
    return {"account": account.pk, "kind": "template", "name": "通知",
            "message": {"template": templates["legacy"].pk,
                        "data": data or {"keyword1": {"value": "A1"}, "keyword2": {"value": "OK"}}},
            "audience": {"type": "all"}}


def test_create_list_get_and_run(api, no_launch, account, templates, wxsim):
    make_fans(wxsim, account, 30)
    r = api.post(JOBS, legacy_payload(account, templates), format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["state"] == "running" and body["total"] == 30
    engine.run(body["id"])
    r = api.get(f"{JOBS}{body['id']}/")
    assert r.json()["sent"] == 30 and r.json()["state"] == "done" and r.json()["percent"] == 100
    assert r.json()["success_rate"] == 100.0
    assert api.get(JOBS).json()["count"] == 1
    r = api.get(f"{JOBS}{body['id']}/recipients/?state=sent&page_size=10")
    assert r.json()["count"] == 30 and len(r.json()["results"]) == 10
    assert r.json()["results"][0]["msgid"]


def test_missing_and_extra_template_fields_are_400(api, no_launch, account, templates):
    r = api.post(JOBS, legacy_payload(account, templates, keyword1={"value": "A"}, bogus="x"),
                 format="json")
    assert r.status_code == 400
    fields = r.json()["fields"]["message"]["data"]
    assert set(fields) == {"keyword2", "bogus"}
    assert not SendJob.objects.exists()


def test_category_rules_are_field_errors_and_preview_warns(api, account, templates):
    tpl = templates["category"]
    payload = {"account": account.pk, "kind": "template",
               "message": {"template": tpl.pk, "data": {"thing1": "一" * 21, "amount2": "abc",
                                                        "time3": "2024-01-01 25:00"}},
               "audience": {"type": "all"}}
    r = api.post(JOBS, payload, format="json")
    assert r.status_code == 400
    assert set(r.json()["fields"]["message"]["data"]) == {"thing1", "amount2", "time3"}
    r = api.post(f"/api/v1/message-templates/{templates['legacy'].pk}/preview/",
                 {"data": {"first": "你好", "keyword1": "x" * 25, "keyword2": {"value": "OK",
                                                                            "color": "#FF0000"}}},
                 format="json")
    assert r.status_code == 200
    body = r.json()
    assert body["lines"] == ["订单号：" + "x" * 20 + "…", "状态：OK"]
    assert len(body["warnings"]) == 3 and not body["errors"]


def test_bad_json_shapes_are_400_not_500(api, account, templates):
    for payload in [{"account": account.pk, "kind": "template", "message": "x", "audience": 3},
                    {"account": account.pk, "kind": "nope", "message": {}, "audience": {}},
                    {"account": "abc"}, {},
                    {"account": account.pk, "kind": "custom", "message": {"msgtype": "news", "news": {
                        "articles": [{"title": "a", "url": "https://e.com"}] * 2}},
                     "audience": {"type": "all"}},
                    {"account": account.pk, "kind": "custom", "message": {"msgtype": "video"},
                     "audience": {"type": "tag", "tag": "x"}}]:
        r = api.post(JOBS, payload, format="json")
        assert r.status_code == 400, (payload, r.content)
        assert r.json()["code"] == "invalid" and r.json()["fields"]


def test_openid_list_with_garbage_needs_confirmation(api, no_launch, account, templates, wxsim):
    openids = make_fans(wxsim, account, 3)
    text = "\n".join([openids[0], "not an openid!", openids[1], "", "x", openids[1], openids[2]])
    payload = {**legacy_payload(account, templates), "audience": {"type": "openids", "openids": text}}
    r = api.post(JOBS, payload, format="json")
    assert r.status_code == 400
    bad = r.json()["fields"]["audience"]["bad_lines"]
    assert [int(b["line"]) for b in bad] == [2, 5]
    assert not SendJob.objects.exists()  # nothing sent until the operator confirms
    payload["audience"]["confirm"] = True
    r = api.post(JOBS, payload, format="json")
    assert r.status_code == 201 and r.json()["total"] == 3


def test_audience_size(api, account, wxsim):
    make_fans(wxsim, account, 7)
    r = api.post(f"{JOBS}audience-size/", {"account": account.pk, "kind": "custom",
                                           "audience": {"type": "all"}}, format="json")
    assert r.json() == {"total": 7, "in_window": 0, "out_of_window": 7}


def test_pause_resume_cancel_and_retry(api, no_launch, account, templates, wxsim):
    openids = make_fans(wxsim, account, 5)
    job_id = api.post(JOBS, legacy_payload(account, templates), format="json").json()["id"]
    assert api.post(f"{JOBS}{job_id}/pause/").json()["state"] == "paused"
    assert api.post(f"{JOBS}{job_id}/pause/").status_code == 409
    assert engine.run(job_id) == "paused"  # a runner does nothing while paused
    assert api.post(f"{JOBS}{job_id}/resume/").json()["state"] == "running"
    wxsim.client.fan_unsubscribe(account.appid, openids[0])
    Recipient.objects.filter(job_id=job_id, openid=openids[1]).update(state="failed", errcode=-1)
    SendJob.objects.filter(pk=job_id).update(failed=1)
    engine.run(job_id)
    r = api.post(f"{JOBS}{job_id}/retry/")
    assert r.status_code == 201 and r.json()["total"] == 1
    assert api.post(f"{JOBS}{job_id}/cancel/").status_code == 409  # done already
    groups = api.get(f"{JOBS}{job_id}/errors/").json()
    assert {(g["errcode"], g["count"]) for g in groups} == {(43004, 1), (-1, 1)}
    assert all(g["meaning"] for g in groups)


def test_cancel_skips_the_rest(api, no_launch, account, templates, wxsim):
    make_fans(wxsim, account, 5)
    job_id = api.post(JOBS, legacy_payload(account, templates), format="json").json()["id"]
    r = api.post(f"{JOBS}{job_id}/cancel/")
    assert r.json()["state"] == "cancelled" and r.json()["skipped"] == 5


def test_other_teams_ids_are_404(api, no_launch, team_b, account, templates):
    other = OfficialAccount.objects.create(team=team_b, appid="wxother000000001", name="B")
    job = SendJob.objects.create(team=team_b, account=other, kind="template", state="running")
    for url in [f"{JOBS}{job.pk}/", f"{JOBS}{job.pk}/recipients/"]:
        assert api.get(url).status_code == 404
    assert api.post(f"{JOBS}{job.pk}/pause/").status_code == 404
    assert api.post(JOBS, {**legacy_payload(account, templates), "account": other.pk},
                    format="json").status_code == 404
    assert api.post("/api/v1/message-templates/sync/", {"account": other.pk},
                    format="json").status_code == 404
    # a template of team A used from team B's account id is a field error, not a leak
    assert SendJob.objects.filter(team=team_b).count() == 1


def _image(fmt="PNG", size=(40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buf, fmt)
    return buf.getvalue()


def test_uploads_validate_images(api, account):
    url = "/api/v1/message-uploads/"
    ok = api.post(url, {"account": account.pk, "file": _named("a.png", _image())}, format="multipart")
    assert ok.status_code == 201 and ok.json()["width"] == 40
    not_image = api.post(url, {"account": account.pk, "file": _named("a.png", b"hello world")},
                         format="multipart")
    assert not_image.status_code == 400 and not_image.json()["fields"]["file"]
    corrupt = _image("JPEG", (400, 400))[:600]
    r = api.post(url, {"account": account.pk, "file": _named("c.jpg", corrupt)}, format="multipart")
    assert r.status_code == 400
    big = b"\x89PNG" + b"0" * (2 * 1024 * 1024 + 10)
    r = api.post(url, {"account": account.pk, "file": _named("big.png", big)}, format="multipart")
    assert r.status_code == 400 and "MB" in r.json()["fields"]["file"][0]


def _named(name: str, data: bytes):
    f = io.BytesIO(data)
    f.name = name
    return f


def test_image_message_uploads_media_once(api, no_launch, account, wxsim):
    openids = make_fans(wxsim, account, 2)
    for o in openids:
        wxsim.client.fan_send_text(account.appid, o, "hi")
    from django.utils import timezone

    from mediabao.fans.models import Fan
    Fan.objects.update(message_window_until=timezone.now() + timezone.timedelta(hours=1),
                       message_window_left=5)
    upload = api.post("/api/v1/message-uploads/", {"account": account.pk,
                                                   "file": _named("p.png", _image())},
                      format="multipart").json()
    payload = {"account": account.pk, "kind": "custom",
               "message": {"msgtype": "image", "image": {"upload": upload["id"]}},
               "audience": {"type": "all"}}
    for _n in range(2):
        job_id = api.post(JOBS, payload, format="json").json()["id"]
        assert engine.run(job_id) == "done"
    uploads = wxsim.client.calls(account.appid, endpoint="media/upload")
    assert len(uploads) == 1  # the media_id is reused until it expires
    box = wxsim.client.inbox(account.appid, openids[0])
    assert [m["msgtype"] for m in box] == ["image", "image"]


def test_templatesendjobfinish_updates_delivery(api, client, no_launch, account, templates, wxsim):
    openids = make_fans(wxsim, account, 3)
    job_id = api.post(JOBS, legacy_payload(account, templates), format="json").json()["id"]
    engine.run(job_id)
    push = Push(client, account)
    recs = list(Recipient.objects.filter(job_id=job_id).order_by("id"))
    statuses = ["success", "failed:user block", "failed: system failed"]
    for n, (rec, status) in enumerate(zip(recs, statuses, strict=True)):
        xml = xml_of({"ToUserName": "gh_x", "FromUserName": rec.openid, "CreateTime": 1700000100 + n,
                      "MsgType": "event", "Event": "TEMPLATESENDJOBFINISH", "MsgID": int(rec.msgid),
                      "Status": status})
        assert push.plain(xml).status_code == 200
    assert [r.delivery for r in Recipient.objects.filter(job_id=job_id).order_by("id")] == statuses
    assert len(openids) == 3


def test_schedules_api(api, account, templates, team_b):
    from datetime import timedelta

    from django.utils import timezone

    url = "/api/v1/message-schedules/"
    at = (timezone.now() + timedelta(days=1)).isoformat()
    body = {"account": account.pk, "name": "早报", "kind": "template", "recurrence": "daily",
            "run_at": at, "message": {"template": templates["legacy"].pk,
                                      "data": {"keyword1": "A", "keyword2": "B"}},
            "audience": {"type": "window"}}
    r = api.post(url, body, format="json")
    assert r.status_code == 201, r.json()
    sid = r.json()["id"]
    assert len(r.json()["next_runs"]) == 5
    r = api.post(url, {**body, "recurrence": "cron", "cron": "61 * * * *"}, format="json")
    assert r.status_code == 400 and "cron" in r.json()["fields"]
    r = api.post(url, {**body, "message": {"template": templates["legacy"].pk, "data": {}}},
                 format="json")
    assert r.status_code == 400 and "message" in r.json()["fields"]
    r = api.patch(f"{url}{sid}/", {"recurrence": "weekly", "weekdays": [4]}, format="json")
    assert r.status_code == 200 and r.json()["recurrence"] == "weekly"
    other = OfficialAccount.objects.create(team=team_b, appid="wxother000000009", name="B")
    assert api.post(url, {**body, "account": other.pk}, format="json").status_code == 404
    assert api.delete(f"{url}{sid}/").status_code == 204
    assert api.get(url).json()["count"] == 0
