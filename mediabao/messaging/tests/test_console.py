"""Console pages: templates, composer with live preview and audience size, jobs, SOP.
Jobs are run in-process with ``engine.run`` where a test needs results."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from mediabao.messaging import engine
from mediabao.messaging.models import Schedule, SendJob, Template
from mediabao.wechat.models import OfficialAccount

from .conftest import make_fans

pytestmark = pytest.mark.django_db
BASE = "/console/messages/"


def test_template_list_and_sync(console, account, sim):
    sim.create_template(account.appid, "活动提醒", "{{first.DATA}}\n活动：{{keyword1.DATA}}\n{{remark.DATA}}")
    r = console.post(f"{BASE}templates/sync/{account.pk}/", follow=True)
    assert r.status_code == 200
    assert "活动提醒" in r.content.decode()
    assert Template.objects.filter(account=account).count() == 1


def _compose_url(account, template) -> str:
    return f"{BASE}new/?account={account.pk}&kind=template&template={template.pk}"


def _post_data(account, template, **extra) -> dict:
    return {"account": account.pk, "kind": "template", "template": template.pk, "audience": "all",
            "f_keyword1": "A-100", "f_keyword2": "已发货", **extra}


def test_composer_renders_fields_and_sends(console, no_launch, account, templates, wxsim):
    openids = make_fans(wxsim, account, 4)
    tpl = templates["legacy"]
    page = console.get(_compose_url(account, tpl)).content.decode()
    for name in ("f_first", "f_keyword1", "f_keyword2", "f_remark", "c_keyword1"):
        assert f'name="{name}"' in page
    assert "<script" not in page.split("</head>")[1]  # strict CSP: no inline scripts
    r = console.post(f"{BASE}new/", _post_data(account, tpl, name="发货通知"))
    job = SendJob.objects.get()
    assert r.status_code == 302 and r["Location"] == f"{BASE}jobs/{job.pk}/"
    assert (job.name, job.total, job.created_by.username) == ("发货通知", 4, "alice")
    engine.run(job.pk)
    detail = console.get(r["Location"]).content.decode()
    assert "发货通知" in detail and 'value="100"' in detail
    assert len(wxsim.client.inbox(account.appid, openids[0])) == 1


def test_composer_shows_field_errors(console, no_launch, account, templates):
    tpl = templates["legacy"]
    r = console.post(f"{BASE}new/", _post_data(account, tpl, f_keyword2="", audience="tag", tag=""))
    assert r.status_code == 200
    assert not SendJob.objects.exists()
    assert "is-invalid" in r.content.decode() or "invalid-feedback" in r.content.decode()


def test_live_preview_and_audience_size(console, account, templates, wxsim):
    make_fans(wxsim, account, 3)
    tpl = templates["legacy"]
    data = _post_data(account, tpl, f_first="你好", f_keyword1="x" * 30, c_keyword2="#FF0000")
    html = console.post(f"{BASE}new/preview/", data, HTTP_HX_REQUEST="true").content.decode()
    assert "订单号：" + "x" * 20 + "…" in html and "你好" not in html.split("preview-warnings")[0]
    assert html.count("⚠") == 3
    cat = templates["category"]
    bad = {"account": account.pk, "kind": "template", "template": cat.pk, "f_thing1": "好" * 21,
           "f_amount2": "12", "f_time3": "10:00", "audience": "all"}
    html = console.post(f"{BASE}new/preview/", bad).content.decode()
    assert "47003" in html and "preview-errors" in html
    size = console.post(f"{BASE}new/audience-size/", data).content.decode()
    assert "3" in size
    garbage = {**data, "audience": "openids", "openids": "bad line!\nfoo"}
    size = console.post(f"{BASE}new/audience-size/", garbage).content.decode()
    assert "bad line!" in size


def test_custom_composer_rejects_a_non_image(console, no_launch, account, wxsim):
    data = {"account": account.pk, "kind": "custom", "msgtype": "image", "audience": "all",
            "image": io.BytesIO(b"not an image")}
    data["image"].name = "x.png"
    r = console.post(f"{BASE}new/", data)
    assert r.status_code == 200 and not SendJob.objects.exists()
    assert "not a valid image" in r.content.decode() or "有效" in r.content.decode()


def test_job_pages_actions_and_csv(console, no_launch, account, templates, wxsim):
    make_fans(wxsim, account, 5)
    console.post(f"{BASE}new/", _post_data(account, templates["legacy"]))
    job = SendJob.objects.get()
    assert console.post(f"{BASE}jobs/{job.pk}/pause/").status_code == 302
    job.refresh_from_db()
    assert job.state == "paused"
    console.post(f"{BASE}jobs/{job.pk}/resume/")
    engine.run(job.pk)
    listing = console.get(BASE).content.decode()
    assert f'id="job-{job.pk}"' in listing and "100.0%" in listing
    progress = console.get(f"{BASE}jobs/{job.pk}/progress/").content.decode()
    assert "hx-get" not in progress  # finished: no more polling
    rows = list(csv.reader(io.StringIO(console.get(f"{BASE}jobs/{job.pk}/export.csv")
                                       .getvalue().decode().lstrip("\ufeff"))))
    assert len(rows) == 6 and all(r[1] == "sent" for r in rows[1:])


def test_other_teams_job_is_404(console, team_b):
    other = OfficialAccount.objects.create(team=team_b, appid="wxother000000002", name="B")
    job = SendJob.objects.create(team=team_b, account=other, kind="template", state="running")
    for url in [f"{BASE}jobs/{job.pk}/", f"{BASE}jobs/{job.pk}/progress/", f"{BASE}jobs/{job.pk}/row/",
                f"{BASE}jobs/{job.pk}/export.csv"]:
        assert console.get(url).status_code == 404
    assert console.post(f"{BASE}jobs/{job.pk}/cancel/").status_code == 404
    assert console.post(f"{BASE}templates/sync/{other.pk}/").status_code == 404
    job.refresh_from_db()
    assert job.state == "running"


def test_sop_schedule_create_edit_cancel(console, account, templates):
    tpl = templates["legacy"]
    run_at = (timezone.localtime() + timedelta(days=1)).replace(second=0, microsecond=0)
    data = {**_post_data(account, tpl), "sop": "1", "name": "每日提醒", "recurrence": "daily",
            "run_at": run_at.strftime("%Y-%m-%dT%H:%M")}
    r = console.post(f"{BASE}new/?sop=1", data)
    assert r.status_code == 302, r.content.decode()[:3000]
    schedule = Schedule.objects.get()
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.crontab.hour == str(run_at.hour) and task.enabled
    page = console.get(f"{BASE}schedules/").content.decode()
    assert "每日提醒" in page and run_at.strftime("%Y-%m-%d") in page
    r = console.post(f"{BASE}schedules/{schedule.pk}/", {"recurrence": "weekly",
                                                         "run_at": data["run_at"], "weekdays": [0, 2]})
    assert r.status_code == 302, r.content.decode()[-4000:]
    task.refresh_from_db()
    assert task.crontab.day_of_week == "1,3"
    console.post(f"{BASE}schedules/{schedule.pk}/cancel/")
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()
    assert not Schedule.objects.get().enabled


def test_delivery_settings(console, account, templates, team_b):
    url = f"{BASE}accounts/{account.pk}/settings/"
    assert console.post(url, {"concurrency": "0", "rate_per_second": "10"}).status_code == 200
    r = console.post(url, {"concurrency": "50", "rate_per_second": "200",
                           "notice_template": templates["legacy"].pk})
    assert r.status_code == 302
    from mediabao.messaging.models import DeliverySettings

    knobs = DeliverySettings.objects.get(account=account)
    assert (knobs.concurrency, knobs.rate_per_second) == (50, 200)
    other = OfficialAccount.objects.create(team=team_b, appid="wxother000000003", name="B")
    assert console.get(f"{BASE}accounts/{other.pk}/settings/").status_code == 404


def test_progress_poll_reloads_the_page_when_the_job_stops(console, account):
    job = SendJob.objects.create(team=account.team, account=account, kind="template", state="running",
                                 total=10, sent=4)
    url = f"{BASE}jobs/{job.pk}/progress/"
    r = console.get(url, HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in r and "hx-get" in r.content.decode()
    SendJob.objects.filter(pk=job.pk).update(state="done", sent=10)
    r = console.get(url, HTTP_HX_REQUEST="true")
    assert r["HX-Refresh"] == "true" and "hx-get" not in r.content.decode()
