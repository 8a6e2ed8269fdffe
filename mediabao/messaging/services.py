"""Writes of the messaging app: template sync, uploads, jobs and their life cycle."""

from __future__ import annotations

import io
import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mediabao.audit import services as audit
from mediabao.messaging import audience as audiences
from mediabao.messaging import rules, validation
from mediabao.messaging.models import Recipient, SendJob, Template, Upload
from mediabao.wechat.client import WeChatClient
from mediabao.wechat.models import OfficialAccount

log = logging.getLogger(__name__)

IMAGE_MAX_BYTES = 2 * 1024 * 1024  # WECHAT.md §1.5: the page says both 10M and 2MB; take the safe one
IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif"}


# --- templates -------------------------------------------------------------------------
def sync_templates(account: OfficialAccount, client: WeChatClient | None = None) -> int:
    """Mirror ``get_all_private_template``; templates gone from WeChat are marked removed."""
    client = client or WeChatClient(account)
    result = client.get("cgi-bin/template/get_all_private_template")
    now = timezone.now()
    seen = []
    for item in result.get("template_list") or []:
        template_id = str(item.get("template_id") or "")
        if not template_id:
            continue
        content = str(item.get("content") or "")
        seen.append(template_id)
        Template.objects.update_or_create(
            account=account, template_id=template_id,
            defaults={"team_id": account.team_id, "title": str(item.get("title") or "")[:100],
                      "content": content, "example": str(item.get("example") or ""),
                      "primary_industry": str(item.get("primary_industry") or "")[:64],
                      "deputy_industry": str(item.get("deputy_industry") or "")[:64],
                      "kind": rules.kind_of(content), "keys": rules.keys_of(content),
                      "removed": False, "synced_at": now})
    Template.objects.filter(account=account).exclude(template_id__in=seen).update(removed=True)
    return len(seen)


# --- uploads -------------------------------------------------------------------------------
def create_upload(team, account: OfficialAccount, name: str, data: bytes) -> Upload:
    """Check that the file is a real image within the limit, then keep it (upload is lazy)."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise validation.Invalid({"file": [_("The file is empty.")]})
    if len(data) > IMAGE_MAX_BYTES:
        raise validation.Invalid({"file": [_("The image is larger than %(mb)d MB.")
                                           % {"mb": IMAGE_MAX_BYTES // (1024 * 1024)}]})
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # verify() misses truncated pixel data
            width, height = img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise validation.Invalid({"file": [_("The file is not a valid image.")]}) from None
    if fmt not in IMAGE_FORMATS:
        raise validation.Invalid({"file": [_("Use a JPEG, PNG or GIF image.")]})
    return Upload.objects.create(team=team, account=account, name=(name or "image")[:200],
                                 content_type=IMAGE_FORMATS[fmt], data=data, size=len(data),
                                 width=width, height=height)


def ensure_media_id(upload: Upload) -> str:
    """The upload's media_id, uploading (again) when it is missing or about to expire."""
    if upload.media_valid():
        return upload.media_id
    ext = upload.content_type.split("/")[-1]
    files = {"media": (f"upload-{upload.pk}.{ext}", bytes(upload.data), upload.content_type)}
    result = WeChatClient(upload.account).upload("cgi-bin/media/upload", files, type="image")
    upload.media_id = str(result.get("media_id") or "")
    upload.media_uploaded_at = timezone.now()
    upload.save(update_fields=["media_id", "media_uploaded_at"])
    return upload.media_id


# --- jobs --------------------------------------------------------------------------------
def create_job(*, team, user, account: OfficialAccount, kind: str, message: Any, audience: Any,
               fallback: Any = None, name: str = "", send_at: datetime | None = None,
               start: bool = True) -> tuple[SendJob, list[str]]:
    """Validate everything, then create the job: started now, scheduled, or a draft.

    Returns the job and the warnings the operator saw in the composer.
    """
    errors: dict[str, Any] = {}
    warnings: list[str] = []
    checked_message = checked_fallback = checked_audience = None
    try:
        checked_message = validation.message_for(team, account, kind, message)
        warnings += checked_message.warnings
    except validation.Invalid as exc:
        errors["message"] = exc.fields
    if fallback:
        if kind != SendJob.Kind.CUSTOM:
            errors["fallback"] = [_("Only customer-service messages have a fallback.")]
        else:
            try:
                checked_fallback = validation.template_message(team, account, fallback)
            except validation.Invalid as exc:
                errors["fallback"] = exc.fields
    try:
        checked_audience = validation.audience(team, account, audience)
        warnings += checked_audience.warnings
    except validation.Invalid as exc:
        errors.update(exc.fields)
    if send_at is not None and send_at <= timezone.now():
        send_at = None  # "at a time in the past" means now
    if errors:
        raise validation.Invalid(errors)
    job = SendJob.objects.create(
        team=team, created_by=user, account=account, kind=kind, name=name[:100],
        message=checked_message.value, fallback=checked_fallback.value if checked_fallback else None,
        audience=checked_audience.value, scheduled_at=send_at,
        state=SendJob.State.SCHEDULED if send_at else SendJob.State.DRAFT)
    audit.record(team, "job.created", job, actor=user, details={"kind": kind})
    if send_at:
        from mediabao.messaging import schedules

        schedules.schedule_job(job)
    elif start:
        job = start_job(job)
    return job, warnings


def start_job(job: SendJob) -> SendJob:
    """Materialize the audience (now: at firing time) and hand the job to the runners."""
    with transaction.atomic():
        job = SendJob.objects.select_for_update().get(pk=job.pk)
        if job.state not in (SendJob.State.DRAFT, SendJob.State.SCHEDULED):
            return job
        if not job.recipients.exists():
            audiences.materialize(job)
        job.state = SendJob.State.RUNNING
        job.started_at = job.heartbeat_at = timezone.now()
        job.save(update_fields=["state", "started_at", "heartbeat_at"])
        transaction.on_commit(lambda: launch(job.pk))
    return job


def launch(job_id: int, runners: int | None = None) -> None:
    """Queue the runner tasks; several let several workers share one job."""
    from mediabao.messaging import conf
    from mediabao.messaging.tasks import run_job

    for _n in range(runners or conf.runners_per_job()):
        run_job.delay(job_id)


def pause_job(job: SendJob, reason: str = "") -> bool:
    n = SendJob.objects.filter(pk=job.pk, state__in=[SendJob.State.RUNNING, SendJob.State.SCHEDULED]
                               ).update(state=SendJob.State.PAUSED,
                                        pause_reason=reason or _("Paused by the operator."))
    if n:
        audit.record(job.team, "job.paused", job, details={"reason": reason} if reason else None)
    return bool(n)


def resume_job(job: SendJob) -> bool:
    with transaction.atomic():
        job = SendJob.objects.select_for_update().get(pk=job.pk)
        if job.state != SendJob.State.PAUSED:
            return False
        materialized = job.recipients.exists()
        job.state = SendJob.State.RUNNING if materialized or job.started_at else SendJob.State.DRAFT
        job.pause_reason = ""
        job.heartbeat_at = timezone.now()
        job.save(update_fields=["state", "pause_reason", "heartbeat_at"])
    if job.state == SendJob.State.DRAFT:
        start_job(job)
    else:
        transaction.on_commit(lambda: launch(job.pk))
    audit.record(job.team, "job.resumed", job)
    return True


def cancel_job(job: SendJob) -> bool:
    """Stop for good: recipients not sent yet become skipped(cancelled)."""
    with transaction.atomic():
        n = SendJob.objects.filter(pk=job.pk).exclude(state__in=SendJob.FINAL_STATES).update(
            state=SendJob.State.CANCELLED, finished_at=timezone.now())
        if not n:
            return False
        skipped = Recipient.objects.filter(job_id=job.pk, state=Recipient.State.PENDING).update(
            state=Recipient.State.SKIPPED, reason=Recipient.Reason.CANCELLED, updated_at=timezone.now())
        if skipped:
            from django.db.models import F

            SendJob.objects.filter(pk=job.pk).update(skipped=F("skipped") + skipped)
    from mediabao.messaging import schedules

    schedules.unschedule_job(job)
    audit.record(job.team, "job.cancelled", job)
    return True


def retry_failed(job: SendJob, user) -> SendJob | None:
    """A new job of the same message for the failed (and unknown-outcome) recipients only."""
    openids = list(job.recipients.filter(state=Recipient.State.FAILED)
                   .values_list("openid", flat=True))
    if not openids:
        return None
    new = SendJob.objects.create(
        team_id=job.team_id, created_by=user, account_id=job.account_id, kind=job.kind,
        name=(_("Retry of %(name)s") % {"name": job}) [:100], message=job.message,
        fallback=job.fallback, audience={"type": "openids", "openids": [], "retry_of": job.pk},
        source_job=job)
    audit.record(job.team, "job.created", new, actor=user, details={"retry_of": job.pk})
    audiences.materialize_list(new, openids)
    with transaction.atomic():
        SendJob.objects.filter(pk=new.pk).update(state=SendJob.State.RUNNING,
                                                 started_at=timezone.now(),
                                                 heartbeat_at=timezone.now())
        transaction.on_commit(lambda: launch(new.pk))
    new.refresh_from_db()
    return new
