"""Notices to operators on WeChat: customer-service text, else a configured template.

The operator's bound openid (``User.wx_openid``) is a fan of the account; a text is
allowed only inside their 48-hour window, so 45015/45047 fall back to the account's
notice template (``DeliverySettings.notice_template``) when one is set.
"""

from __future__ import annotations

import logging

from django.utils import timezone
from django.utils.translation import gettext as _

from mediabao.messaging import rules
from mediabao.messaging.models import DeliverySettings, SendJob
from mediabao.wechat.client import WeChatClient
from mediabao.wechat.errors import WeChatError

log = logging.getLogger(__name__)


def send_notice(account, openid: str, text: str, client: WeChatClient | None = None) -> str:
    """Send ``text`` to one operator; returns the channel used ("custom", "template" or "")."""
    client = client or WeChatClient(account)
    try:
        client.post("cgi-bin/message/custom/send",
                    {"touser": openid, "msgtype": "text", "text": {"content": text}})
        return "custom"
    except WeChatError as exc:
        if exc.errcode not in (45015, 45047):
            log.warning("operator notice failed: %s", exc)
            return ""
    knobs = DeliverySettings.objects.filter(account=account).select_related("notice_template").first()
    template = knobs.notice_template if knobs else None
    if template is None:
        return ""
    keys = [k for k in template.keys if k not in rules.HIDDEN_KEYS] or template.keys
    # First field: the text (cut to what WeChat shows); the others: a dash.
    data = {key: {"value": (text[:20] if n == 0 else "-")} for n, key in enumerate(keys)}
    try:
        client.post("cgi-bin/message/template/send",
                    {"touser": openid, "template_id": template.template_id, "data": data})
        return "template"
    except WeChatError as exc:
        log.warning("operator notice by template failed: %s", exc)
        return ""


def summary(job: SendJob) -> str:
    state = job.get_state_display()
    text = _("Send job “%(name)s”: %(state)s. Sent %(sent)d, failed %(failed)d, skipped %(skipped)d "
             "of %(total)d.") % {"name": job, "state": state, "sent": job.sent, "failed": job.failed,
                                 "skipped": job.skipped, "total": job.total}
    if job.pause_reason and job.state in (SendJob.State.PAUSED, SendJob.State.FAILED):
        text += " " + job.pause_reason
    return text


def job_stopped(job_id: int) -> str:
    job = SendJob.objects.select_related("account", "created_by").filter(pk=job_id).first()
    if job is None or job.created_by is None or not job.created_by.wx_openid:
        return ""
    # Each automatic pause is worth a notice; the end of a job, exactly one.
    if job.state != SendJob.State.PAUSED and not SendJob.objects.filter(
            pk=job.pk, notified_at__isnull=True).update(notified_at=timezone.now()):
        return ""
    return send_notice(job.account, job.created_by.wx_openid, summary(job))
