"""Reliability with real Celery worker processes: ``kill -9`` half-way, two workers on one job.

Workers read committed data, so these tests use ``transaction=True``; wxsim's record of
what each fan received is the ground truth.
"""

from __future__ import annotations

import re
import uuid

import pytest

from mediabao.celery import app as celery_app
from mediabao.messaging import services
from mediabao.messaging.models import Recipient, SendJob

from .conftest import inbox_counts, make_fans
from .workers import Worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queue():
    """A queue of this test's own: tasks queued here reach only the workers it starts."""
    name = f"msgtest-{uuid.uuid4().hex[:8]}"
    before = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = name
    yield name
    celery_app.conf.task_default_queue = before


@pytest.fixture
def workers(tmp_path, queue):
    started: list[Worker] = []

    def start(**env) -> Worker:
        w = Worker(queue, tmp_path / f"worker{len(started)}.log", **env).start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def _job(owner, account, templates) -> SendJob:
    job, _w = services.create_job(
        team=account.team, user=owner, account=account, kind="template",
        message={"template": templates["legacy"].pk,
                 "data": {"keyword1": {"value": "K"}, "keyword2": {"value": "V"}}},
        audience={"type": "all"})
    return job


def _progress(job_id: int) -> SendJob:
    return SendJob.objects.get(pk=job_id)


def test_kill_9_half_way_then_restart_sends_everyone_exactly_once(owner, account, templates, wxsim,
                                                                   workers, tmp_path):
    n = 20_000
    openids = make_fans(wxsim, account, n)
    wxsim.client.set_fault("message/template/send", latency_ms=20)
    env = {"MEDIABAO_MESSAGING_LEASE_SECONDS": "5", "MEDIABAO_MESSAGING_CONCURRENCY": "50"}
    first = workers(**env)
    job = _job(owner, account, templates)
    wait_for(lambda: _progress(job.pk).sent >= n // 2, 180, what="half of the job")
    first.kill9()
    at_kill = _progress(job.pk)
    assert at_kill.state == "running" and at_kill.sent < n
    workers(**env)  # the restart: worker_ready queues runners for running jobs
    wait_for(lambda: _progress(job.pk).state == "done", 240, interval=0.5, what="the job to finish")
    job.refresh_from_db()
    assert (job.sent, job.failed, job.skipped, job.unknown) == (n, 0, 0, 0)
    assert not Recipient.objects.filter(job=job).exclude(state="sent").exists()
    received = inbox_counts(wxsim, account.appid, "template")
    assert received == dict.fromkeys(openids, 1), "every fan exactly once"
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("worker*.log"))
    assert "mediabao.messaging.run_job" in logs


def test_two_workers_share_one_job(owner, account, templates, wxsim, workers, tmp_path):
    n = 6_000
    openids = make_fans(wxsim, account, n)
    wxsim.client.set_fault("message/template/send", latency_ms=20)
    env = {"MEDIABAO_MESSAGING_CONCURRENCY": "20", "MEDIABAO_MESSAGING_CHUNK_SIZE": "200"}
    workers(**env)
    workers(**env)
    job = _job(owner, account, templates)
    wait_for(lambda: _progress(job.pk).state == "done", 180, interval=0.5, what="the job to finish")
    assert inbox_counts(wxsim, account.appid, "template") == dict.fromkeys(openids, 1)

    def both_sent() -> bool:
        logs = [p.read_text(errors="replace") for p in sorted(tmp_path.glob("worker*.log"))]
        # a runner that found work took seconds, not milliseconds
        return len(logs) == 2 and all(re.search(r"run_job\[[^]]+\] succeeded in [1-9]", log)
                                      for log in logs)

    wait_for(both_sent, 15, what="both workers to have sent part of the job")


def test_daily_quota_pauses_the_job_and_resume_sends_only_the_rest(owner, account, templates, wxsim,
                                                                   workers):
    n, quota = 50_000, 30_000
    openids = make_fans(wxsim, account, n)
    wxsim.client.set_quota(account.appid, "message/template/send", limit=quota, used=0)
    workers(MEDIABAO_MESSAGING_CONCURRENCY="100")
    job = _job(owner, account, templates)
    wait_for(lambda: _progress(job.pk).state == "paused", 300, interval=0.5, what="the pause")
    job.refresh_from_db()
    assert "45009" in job.pause_reason and job.sent == quota
    assert Recipient.objects.filter(job=job, state="pending").count() == n - quota
    wxsim.client.set_quota(account.appid, "message/template/send", reset=True)  # the next day
    assert services.resume_job(job)
    wait_for(lambda: _progress(job.pk).state == "done", 300, interval=0.5, what="the job to finish")
    job.refresh_from_db()
    assert (job.sent, job.failed) == (n, 0)
    assert inbox_counts(wxsim, account.appid, "template") == dict.fromkeys(openids, 1)


def test_faults_and_a_token_expiring_mid_job(owner, account, templates, wxsim, workers):
    n = 10_000
    openids = make_fans(wxsim, account, n)
    wxsim.client.set_fault("message/template/send", error_rate=0.10, errcode=-1)
    wxsim.client.set_fault("message/template/send", drop_rate=0.05)
    wxsim.client.set_fault("message/template/send", latency_ms=10)
    workers(MEDIABAO_MESSAGING_CONCURRENCY="50")
    job = _job(owner, account, templates)
    wait_for(lambda: _progress(job.pk).sent >= n // 3, 240, what="a third of the job")
    wxsim.client.expire_tokens(account.appid)  # 42001 from now on for the token in use
    wait_for(lambda: _progress(job.pk).state == "done", 300, interval=0.5, what="the job to finish")
    job.refresh_from_db()
    assert not Recipient.objects.filter(job=job, state__in=["pending", "sending"]).exists()
    received = inbox_counts(wxsim, account.appid, "template")
    assert max(received.values()) == 1, "no duplicates"
    sent = set(Recipient.objects.filter(job=job, state="sent").values_list("openid", flat=True))
    assert set(received) == sent and len(sent) == job.sent >= n - 10
    assert max(Recipient.objects.filter(job=job).values_list("attempts", flat=True)) <= 3
    counters = wxsim.client.counters()
    sends = next(v for k, v in counters.items() if k.endswith("template/send"))
    total_calls, by_code = sends["total"], sends["by_errcode"]
    # ~15% of calls fail or lose their answer: retries are bounded, far from a resend storm
    assert n < total_calls < 1.5 * n, by_code
    assert len(openids) == n
