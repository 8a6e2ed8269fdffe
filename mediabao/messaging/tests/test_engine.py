"""The delivery engine against wxsim, run in-process (``engine.run`` is called directly;
the real-worker tests are in ``test_workers.py``)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from mediabao.fans.models import Fan
from mediabao.messaging import engine, services
from mediabao.messaging.models import Recipient

from .conftest import inbox_counts, make_fans

pytestmark = pytest.mark.django_db


def template_job(owner, account, templates, audience=None, **kw):
    tpl = templates["legacy"]
    job, _warnings = services.create_job(
        team=account.team, user=owner, account=account, kind="template",
        message={"template": tpl.pk, "data": {"keyword1": {"value": "A-1"}, "keyword2": "已发货"}},
        audience=audience or {"type": "all"}, **kw)
    return job


def test_template_job_reaches_every_fan_once(no_launch, owner, account, templates, wxsim):
    openids = make_fans(wxsim, account, 1200)
    job = template_job(owner, account, templates)
    assert job.state == "running" and job.total == 1200
    assert engine.run(job.pk) == "done"
    job.refresh_from_db()
    assert (job.state, job.sent, job.failed, job.skipped) == ("done", 1200, 0, 0)
    assert inbox_counts(wxsim, account.appid) == {o: 1 for o in openids}
    assert not Recipient.objects.filter(job=job).exclude(state="sent").exists()
    assert Recipient.objects.filter(job=job, msgid="").count() == 0
    # what the fan saw: first/remark hidden
    box = wxsim.client.inbox(account.appid, openids[0])
    assert box[0]["text"] == "订单号：A-1\n状态：已发货"


def test_unsubscribed_fans_are_skipped(no_launch, owner, account, templates, wxsim):
    openids = make_fans(wxsim, account, 10)
    wxsim.client.fan_unsubscribe(account.appid, openids[3])
    job = template_job(owner, account, templates)
    engine.run(job.pk)
    job.refresh_from_db()
    assert (job.sent, job.skipped) == (9, 1)
    rec = Recipient.objects.get(job=job, openid=openids[3])
    assert (rec.state, rec.reason, rec.errcode) == ("skipped", "unsubscribed", 43004)


def test_faults_bounded_retries_no_duplicates(no_launch, owner, account, templates, wxsim, settings):
    settings.MESSAGING_CHUNK_SIZE = 200
    make_fans(wxsim, account, 2000)
    wxsim.client.set_fault("message/template/send", error_rate=0.10, errcode=-1)
    wxsim.client.set_fault("message/template/send", drop_rate=0.05)
    job = template_job(owner, account, templates)
    wxsim.client.expire_tokens(account.appid)  # the token dies mid-job
    assert engine.run(job.pk) == "done"
    job.refresh_from_db()
    assert job.state == "done"
    assert not Recipient.objects.filter(job=job, state__in=["pending", "sending"]).exists()
    received = inbox_counts(wxsim, account.appid)
    assert max(received.values()) == 1  # no duplicates despite resends after lost answers
    sent = set(Recipient.objects.filter(job=job, state="sent").values_list("openid", flat=True))
    assert set(received) == sent
    assert job.sent == len(sent) >= 1990
    assert max(Recipient.objects.filter(job=job).values_list("attempts", flat=True)) <= 3


def test_quota_pauses_and_resume_sends_only_the_rest(no_launch, owner, account, templates, wxsim):
    openids = make_fans(wxsim, account, 1000)
    wxsim.client.set_quota(account.appid, "message/template/send", limit=600, used=0)
    job = template_job(owner, account, templates)
    assert engine.run(job.pk) == "paused"
    job.refresh_from_db()
    assert job.state == "paused" and "45009" in job.pause_reason
    assert job.sent == 600
    assert Recipient.objects.filter(job=job, state="pending").count() == 400
    wxsim.client.set_quota(account.appid, "message/template/send", reset=True)
    assert services.resume_job(job)
    assert engine.run(job.pk) == "done"
    job.refresh_from_db()
    assert (job.state, job.sent) == ("done", 1000)
    assert inbox_counts(wxsim, account.appid) == {o: 1 for o in openids}


def test_stale_sending_rows_are_resent_safely(no_launch, owner, account, templates, wxsim, settings):
    """A dead worker's chunk (left in ``sending`` after a send) is re-sent; WeChat dedups."""
    settings.MESSAGING_LEASE_SECONDS = 0
    openids = make_fans(wxsim, account, 300)
    job = template_job(owner, account, templates)
    chunk = engine.claim(job.pk, "template", 100)
    import asyncio

    plan = engine.plan(job.pk)

    async def send_without_writing():
        runner = engine.Runner(plan)
        try:
            await runner.send_chunk(chunk)
        finally:
            await runner.close()

    asyncio.run(send_without_writing())  # ... and the worker dies before writing
    assert engine.run(job.pk) == "done"
    job.refresh_from_db()
    assert job.sent == 300
    assert inbox_counts(wxsim, account.appid) == {o: 1 for o in openids}


def custom_job(owner, account, audience=None, fallback=None, text="你好 👋 https://example.com"):
    job, _w = services.create_job(team=account.team, user=owner, account=account, kind="custom",
                                  message={"msgtype": "text", "text": {"content": text}},
                                  audience=audience or {"type": "all"}, fallback=fallback)
    return job


def test_custom_out_of_window_is_skipped_and_window_consumed(no_launch, owner, account, wxsim):
    openids = make_fans(wxsim, account, 6)
    for o in openids[:3]:  # they write: 5 sends for 48 h, in wxsim and in our fan table
        wxsim.client.fan_send_text(account.appid, o, "hi")
        Fan.objects.filter(openid=o).update(
            message_window_until=timezone.now() + timezone.timedelta(hours=48), message_window_left=5)
    job = custom_job(owner, account)
    assert (job.total, job.skipped) == (6, 3)
    engine.run(job.pk)
    job.refresh_from_db()
    assert (job.state, job.sent, job.skipped) == ("done", 3, 3)
    skipped = Recipient.objects.filter(job=job, state="skipped")
    assert {r.reason for r in skipped} == {"out_of_window"}
    assert set(inbox_counts(wxsim, account.appid, "custom")) == set(openids[:3])
    left = Fan.objects.filter(openid__in=openids[:3]).values_list("message_window_left", flat=True)
    assert list(left) == [4, 4, 4]


def test_custom_fallback_to_template(no_launch, owner, account, templates, wxsim):
    openids = make_fans(wxsim, account, 4)
    wxsim.client.fan_send_text(account.appid, openids[0], "hi")
    # our table believes fan 1 is in window, WeChat says 45015: fallback too
    Fan.objects.filter(openid__in=openids[:2]).update(
        message_window_until=timezone.now() + timezone.timedelta(hours=48), message_window_left=5)
    fallback = {"template": templates["legacy"].pk,
                "data": {"keyword1": {"value": "X"}, "keyword2": {"value": "Y"}}}
    job = custom_job(owner, account, fallback=fallback)
    engine.run(job.pk)
    job.refresh_from_db()
    assert (job.sent, job.skipped, job.failed) == (4, 0, 0)
    channels = dict(Recipient.objects.filter(job=job).values_list("openid", "channel"))
    assert channels == {openids[0]: "custom", openids[1]: "template", openids[2]: "template",
                        openids[3]: "template"}
    assert inbox_counts(wxsim, account.appid, "custom") == {openids[0]: 1}
    assert inbox_counts(wxsim, account.appid, "template") == {o: 1 for o in openids[1:]}
    assert Fan.objects.get(openid=openids[1]).message_window_left == 0


def test_custom_lost_answer_is_unknown_never_resent(no_launch, owner, account, wxsim):
    openids = make_fans(wxsim, account, 20)
    for o in openids:
        wxsim.client.fan_send_text(account.appid, o, "hi")
    Fan.objects.update(message_window_until=timezone.now() + timezone.timedelta(hours=48),
                       message_window_left=5)
    wxsim.client.set_fault("message/custom/send", drop_rate=1.0, remaining=5)
    job = custom_job(owner, account)
    engine.run(job.pk)
    job.refresh_from_db()
    assert (job.sent, job.unknown) == (15, 5)
    received = inbox_counts(wxsim, account.appid, "custom")
    assert max(received.values()) == 1


def test_runner_yields_after_its_time_slice(owner, account, templates, wxsim, settings, monkeypatch):
    """A runner hands the job back after its slice (fairness, short warm shutdowns)."""
    settings.MESSAGING_SLICE_SECONDS = 0
    settings.MESSAGING_CHUNK_SIZE = 100
    queued = []
    monkeypatch.setattr(services, "launch", lambda job_id, runners=None: queued.append(job_id))
    openids = make_fans(wxsim, account, 450)
    job = template_job(owner, account, templates)
    results = [engine.run(job.pk) for _n in range(10)]
    assert results[:4] == ["yielded"] * 4 and "done" in results
    assert queued.count(job.pk) >= 4  # each yield queued a successor
    assert inbox_counts(wxsim, account.appid) == dict.fromkeys(openids, 1)
    assert set(Recipient.objects.filter(job=job).values_list("attempts", flat=True)) == {1}
