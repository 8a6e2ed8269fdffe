"""SOP (定时消息) and scheduled jobs on django-celery-beat's database schedule.

A scheduled job gets a one-off clocked periodic task that starts it; a schedule gets
a clocked (once) or crontab (daily, weekly, cron) task that fires
``mediabao.messaging.fire_schedule``, which creates an ordinary job whose audience is
computed at that moment. Beat's DatabaseScheduler runs a task whose time passed
while it was down once at start, not once per missed occurrence.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from datetime import time as dtime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask

from mediabao.messaging.models import Schedule, SendJob


def _task_name(prefix: str, pk: int) -> str:
    return f"messaging:{prefix}:{pk}"


def schedule_job(job: SendJob) -> None:
    clocked = ClockedSchedule.objects.create(clocked_time=job.scheduled_at)
    PeriodicTask.objects.update_or_create(
        name=_task_name("job", job.pk),
        defaults={"task": "mediabao.messaging.start_job", "clocked": clocked, "one_off": True,
                  "args": json.dumps([job.pk]), "enabled": True,
                  "queue": settings.CELERY_TASK_DEFAULT_QUEUE})


def unschedule_job(job: SendJob) -> None:
    PeriodicTask.objects.filter(name=_task_name("job", job.pk)).delete()


def crontab_fields(schedule: Schedule) -> dict[str, str]:
    local = timezone.localtime(schedule.run_at)
    if schedule.recurrence == Schedule.Recurrence.DAILY:
        return {"minute": str(local.minute), "hour": str(local.hour), "day_of_week": "*",
                "day_of_month": "*", "month_of_year": "*"}
    if schedule.recurrence == Schedule.Recurrence.WEEKLY:
        # Celery: 0 = Sunday; ours: 0 = Monday.
        days = ",".join(str((int(d) + 1) % 7) for d in (schedule.weekdays or [local.weekday()]))
        return {"minute": str(local.minute), "hour": str(local.hour), "day_of_week": days,
                "day_of_month": "*", "month_of_year": "*"}
    minute, hour, dom, month, dow = schedule.cron.split()
    return {"minute": minute, "hour": hour, "day_of_month": dom, "month_of_year": month,
            "day_of_week": dow}


@transaction.atomic
def sync_periodic_task(schedule: Schedule) -> None:
    """Create or update the beat entry of a schedule (after each edit)."""
    defaults = {"task": "mediabao.messaging.fire_schedule", "args": json.dumps([schedule.pk]),
                "enabled": schedule.enabled, "queue": settings.CELERY_TASK_DEFAULT_QUEUE,
                "clocked": None, "crontab": None, "one_off": False}
    if schedule.recurrence == Schedule.Recurrence.ONCE:
        defaults.update(clocked=ClockedSchedule.objects.create(clocked_time=schedule.run_at),
                        one_off=True)
    else:
        defaults["crontab"], _ = CrontabSchedule.objects.get_or_create(
            timezone=settings.TIME_ZONE, **crontab_fields(schedule))
        defaults["start_time"] = schedule.run_at
    task, _ = PeriodicTask.objects.update_or_create(name=_task_name("sop", schedule.pk),
                                                    defaults=defaults)
    if schedule.periodic_task_id != task.pk:
        Schedule.objects.filter(pk=schedule.pk).update(periodic_task=task)
        schedule.periodic_task = task


def cancel(schedule: Schedule) -> None:
    PeriodicTask.objects.filter(name=_task_name("sop", schedule.pk)).delete()
    Schedule.objects.filter(pk=schedule.pk).update(enabled=False)


def fire(schedule_id: int) -> SendJob | None:
    from mediabao.messaging import services

    with transaction.atomic():
        schedule = Schedule.objects.select_for_update(of=("self",)).select_related("account", "created_by") \
            .filter(pk=schedule_id, enabled=True).first()
        if schedule is None:
            return None
        now = timezone.now()
        job = SendJob.objects.create(
            team_id=schedule.team_id, created_by=schedule.created_by, account=schedule.account,
            kind=schedule.kind, name=schedule.name, message=schedule.message,
            fallback=schedule.fallback, audience=schedule.audience, schedule=schedule,
            scheduled_at=now)
        schedule.last_fired_at = now
        if schedule.recurrence == Schedule.Recurrence.ONCE:
            schedule.enabled = False
        schedule.save(update_fields=["last_fired_at", "enabled"])
    return services.start_job(job)


def next_runs(schedule: Schedule, count: int = 5, after: datetime | None = None) -> list[datetime]:
    """Upcoming firings (for the list and the calendar), from the first time on."""
    if not schedule.enabled:
        return []
    after = after or timezone.now()
    if schedule.recurrence == Schedule.Recurrence.ONCE:
        return [schedule.run_at] if schedule.run_at > after else []
    from celery.schedules import crontab

    tz = timezone.get_current_timezone()
    cron = crontab(**crontab_fields(schedule))
    start = timezone.localtime(max(after, schedule.run_at), tz)
    out: list[datetime] = []
    day = start.date()
    last = day + timedelta(days=400)
    while len(out) < count and day <= last:
        if (day.month in cron.month_of_year and day.day in cron.day_of_month
                and (day.weekday() + 1) % 7 in cron.day_of_week):
            for hour in sorted(cron.hour):
                for minute in sorted(cron.minute):
                    at = timezone.make_aware(datetime.combine(day, dtime(hour, minute)), tz)
                    if at >= start and len(out) < count:
                        out.append(at)
        day += timedelta(days=1)
    return out


def save_schedule(*, team, user, account, instance: Schedule | None = None, **data) -> Schedule:
    """Validate like a job (message, audience), then create or edit the schedule and its beat entry."""
    from django.utils.translation import gettext as _

    from mediabao.messaging import validation

    errors: dict = {}
    kind = data.get("kind") or (instance.kind if instance else "")
    names = ("name", "kind", "message", "fallback", "audience", "recurrence", "run_at", "weekdays",
             "cron")
    fields = {k: data[k] for k in names if k in data}
    merged = {**({k: getattr(instance, k) for k in names} if instance else {}), **fields}
    if instance is not None and instance.last_fired_at and instance.recurrence == "once":
        raise validation.Invalid({"run_at": [_("This message was already sent.")]})
    try:
        merged["message"] = validation.message_for(team, account, kind, merged.get("message")).value
    except validation.Invalid as exc:
        errors["message"] = exc.fields
    if merged.get("fallback"):
        try:
            merged["fallback"] = validation.template_message(team, account, merged["fallback"]).value
        except validation.Invalid as exc:
            errors["fallback"] = exc.fields
    try:
        merged["audience"] = validation.audience(team, account, merged.get("audience")).value
    except validation.Invalid as exc:
        errors.update(exc.fields)
    recurrence = merged.get("recurrence") or Schedule.Recurrence.ONCE
    run_at = merged.get("run_at")
    if recurrence == Schedule.Recurrence.ONCE and run_at and run_at <= timezone.now():
        errors["run_at"] = [_("Choose a time in the future.")]
    if recurrence == Schedule.Recurrence.WEEKLY:
        days = merged.get("weekdays") or []
        if not isinstance(days, list) or not all(isinstance(d, int) and 0 <= d <= 6 for d in days):
            errors["weekdays"] = [_("Days are 0 (Monday) to 6 (Sunday).")]
    if recurrence == Schedule.Recurrence.CRON:
        from celery.schedules import crontab

        parts = str(merged.get("cron") or "").split()
        try:
            if len(parts) != 5:
                raise ValueError
            crontab(*parts[:2], day_of_week=parts[4], day_of_month=parts[2], month_of_year=parts[3])
        except Exception:  # noqa: BLE001 - celery raises several types for bad expressions
            errors["cron"] = [_("Enter five fields: minute hour day month weekday.")]
    if errors:
        raise validation.Invalid(errors)
    with transaction.atomic():
        if instance is None:
            instance = Schedule(team=team, created_by=user if getattr(user, "is_authenticated", False)
                                else None, account=account)
        for key, value in merged.items():
            setattr(instance, key, value)
        instance.enabled = True
        instance.save()
        sync_periodic_task(instance)
    return instance
