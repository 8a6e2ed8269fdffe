"""Background work of the messaging app: job runners, recovery, notices, SOP firings."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready

log = logging.getLogger(__name__)


@shared_task(name="mediabao.messaging.run_job", acks_late=True)
def run_job(job_id: int) -> str:
    """One runner of a job; several share a job. Idempotent: a redelivery finds the rest."""
    from mediabao.messaging import engine

    return engine.run(job_id)


@shared_task(name="mediabao.messaging.start_job", acks_late=True)
def start_job(job_id: int) -> str:
    """Start a scheduled job: its audience is computed now, at firing time."""
    from mediabao.messaging import services
    from mediabao.messaging.models import SendJob

    job = SendJob.objects.filter(pk=job_id).first()
    if job is None:
        return "gone"
    return services.start_job(job).state


@shared_task(name="mediabao.messaging.recover")
def recover(stalled_only: bool = False) -> int:
    """Queue runners for running jobs, so a job survives its workers.

    At worker start every running job gets runners (a dead worker's job goes on);
    beat's periodic call only revives jobs with no progress for two leases (a runner
    that died without taking its worker with it). Extra runners are harmless: they
    share the job through SKIP LOCKED claims.
    """
    from datetime import timedelta

    from django.db.models import Q
    from django.utils import timezone

    from mediabao.messaging import conf, services
    from mediabao.messaging.models import SendJob

    jobs = SendJob.objects.filter(state=SendJob.State.RUNNING)
    if stalled_only:
        quiet = timezone.now() - timedelta(seconds=2 * conf.lease_seconds())
        jobs = jobs.filter(Q(heartbeat_at__lt=quiet) | Q(heartbeat_at__isnull=True))
    ids = list(jobs.values_list("pk", flat=True))
    for job_id in ids:
        services.launch(job_id)
    return len(ids)


@worker_ready.connect
def _recover_on_start(sender=None, **kwargs) -> None:
    try:
        recover.delay()
    except Exception:  # noqa: BLE001 - the broker may be down; beat's recovery covers it
        log.warning("could not queue job recovery", exc_info=True)


@shared_task(name="mediabao.messaging.notify_operator")
def notify_operator(job_id: int) -> str:
    from mediabao.messaging import notify

    return notify.job_stopped(job_id)


#: How long a firing remembers that it ran (a redelivery comes within minutes).
FIRED_TTL = 24 * 3600


@shared_task(name="mediabao.messaging.fire_schedule", acks_late=True, bind=True)
def fire_schedule(self, schedule_id: int) -> int | None:
    """One SOP firing: an ordinary job with the audience of this moment.

    Each firing is one message; it is delivered again if its worker is gone before the
    acknowledgement (see the broker leases in mediabao/celery.py). A recurring schedule
    stays enabled, so a second run would create a second job and message every fan twice:
    the firing is remembered by its task id and a redelivery after success does nothing."""
    from django.core.cache import cache

    from mediabao.messaging import schedules

    key = f"messaging:fired:{self.request.id}"
    try:
        done = cache.get(key)
    except Exception:  # noqa: BLE001 - Redis down: fire; a lost firing is worse than nothing
        log.warning("could not check firing %s of schedule %s", self.request.id, schedule_id)
        done = None
    if done is not None:
        log.info("firing %s of schedule %s already ran (job %s)", self.request.id, schedule_id, done)
        return done or None
    job = schedules.fire(schedule_id)
    try:
        cache.set(key, job.pk if job else 0, timeout=FIRED_TTL)
    except Exception:  # noqa: BLE001 - the job exists; only a redelivery could repeat it
        log.warning("could not record firing %s of schedule %s", self.request.id, schedule_id)
    return job.pk if job else None


@shared_task(name="mediabao.messaging.sync_templates")
def sync_templates(account_id: int) -> int:
    from mediabao.messaging import services
    from mediabao.wechat.models import OfficialAccount

    return services.sync_templates(OfficialAccount.objects.get(pk=account_id))
