"""SOP firings, scheduled jobs and operator notices (engine and tasks called in-process)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from mediabao.celery import app as celery_app
from mediabao.fans.models import Fan
from mediabao.messaging import engine, notify, schedules, services
from mediabao.messaging.models import DeliverySettings, Schedule, SendJob

from .conftest import inbox_counts, make_fans

pytestmark = pytest.mark.django_db
MESSAGE = {"data": {"keyword1": {"value": "K"}, "keyword2": {"value": "V"}}}


def _schedule(owner, account, templates, **kw) -> Schedule:
    return schedules.save_schedule(
        team=account.team, user=owner, account=account, name="SOP", kind="template",
        message={**MESSAGE, "template": templates["legacy"].pk}, audience={"type": "all"},
        **{"recurrence": "daily", "run_at": timezone.now() + timedelta(hours=1), **kw})


def test_each_firing_is_an_ordinary_job_with_the_audience_of_that_moment(
        owner, account, templates, wxsim, no_launch):
    make_fans(wxsim, account, 2)
    schedule = _schedule(owner, account, templates)
    make_fans(wxsim, account, 3)  # followers gained after the schedule was made
    job = schedules.fire(schedule.pk)
    assert job.state == "running" and job.total == 5 and job.schedule_id == schedule.pk
    engine.run(job.pk)
    assert len(inbox_counts(wxsim, account.appid)) == 5
    second = schedules.fire(schedule.pk)
    assert second.pk != job.pk and SendJob.objects.filter(schedule=schedule).count() == 2


def test_a_missed_recurring_firing_runs_once_at_start(owner, account, templates):
    schedule = _schedule(owner, account, templates,
                         run_at=timezone.now() - timedelta(days=5))
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    task.last_run_at = timezone.now() - timedelta(days=3)  # beat was down for 3 days
    task.save()
    entry = ModelEntry(task, app=celery_app)
    due, _next = entry.is_due()
    assert due
    entry = next(entry)  # beat ran it once (last_run_at = now)
    due, next_in = entry.is_due()
    assert not due and next_in > 60


def test_one_off_schedule_fires_once_and_can_be_edited_or_cancelled(owner, account, templates,
                                                                    no_launch):
    at = timezone.now() + timedelta(days=2)
    schedule = _schedule(owner, account, templates, recurrence="once", run_at=at)
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.one_off and task.clocked.clocked_time == at
    assert schedules.next_runs(schedule) == [at]
    later = at + timedelta(hours=3)
    schedules.save_schedule(team=account.team, user=owner, account=account, instance=schedule,
                            run_at=later)
    task.refresh_from_db()
    assert task.clocked.clocked_time == later
    schedules.fire(schedule.pk)
    schedule.refresh_from_db()
    assert not schedule.enabled and schedule.last_fired_at
    assert schedules.fire(schedule.pk) is None  # never twice


def test_bad_schedules_are_field_errors(owner, account, templates):
    from mediabao.messaging.validation import Invalid

    for kw, field in [({"recurrence": "once", "run_at": timezone.now() - timedelta(hours=1)}, "run_at"),
                      ({"recurrence": "cron", "cron": "every day"}, "cron"),
                      ({"recurrence": "weekly", "weekdays": [9]}, "weekdays")]:
        with pytest.raises(Invalid) as err:
            _schedule(owner, account, templates, **kw)
        assert field in err.value.fields


def test_send_at_schedules_the_job_and_computes_its_audience_when_it_fires(
        owner, account, templates, wxsim, no_launch):
    make_fans(wxsim, account, 1)
    job, _w = services.create_job(team=account.team, user=owner, account=account, kind="template",
                                  message={**MESSAGE, "template": templates["legacy"].pk},
                                  audience={"type": "all"},
                                  send_at=timezone.now() + timedelta(hours=2))
    assert job.state == "scheduled" and job.total == 0
    assert PeriodicTask.objects.get(name=f"messaging:job:{job.pk}").one_off
    make_fans(wxsim, account, 2)
    from mediabao.messaging.tasks import start_job

    assert start_job(job.pk) == "running"
    job.refresh_from_db()
    assert job.total == 3


def test_operator_notice_custom_then_template_fallback(owner, account, templates, wxsim):
    operator = make_fans(wxsim, account, 1)[0]
    owner.wx_openid = operator
    owner.save()
    job = SendJob.objects.create(team=account.team, account=account, created_by=owner,
                                 kind="template", state="done", total=3, sent=3, name="周报")
    # out of the window and no notice template: nothing, and no error
    assert notify.job_stopped(job.pk) == ""
    DeliverySettings.objects.create(account=account, notice_template=templates["legacy"])
    job2 = SendJob.objects.create(team=account.team, account=account, created_by=owner,
                                  kind="template", state="done", total=1, sent=1, name="日报")
    assert notify.job_stopped(job2.pk) == "template"
    assert notify.job_stopped(job2.pk) == ""  # the end of a job is told once
    wxsim.client.fan_send_text(account.appid, operator, "在吗")
    job3 = SendJob.objects.create(team=account.team, account=account, created_by=owner,
                                  kind="template", state="failed", pause_reason="40037", name="x")
    assert notify.job_stopped(job3.pk) == "custom"
    box = wxsim.client.inbox(account.appid, operator)
    assert [m["channel"] for m in box] == ["template", "custom"]
    assert "x" in box[1]["content"]
    assert Fan.objects.filter(openid=operator).exists()
