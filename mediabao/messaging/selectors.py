"""Reads of the messaging app: job lists, recipients, errors grouped by errcode."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from mediabao.messaging.models import Recipient, SendJob
from mediabao.wechat.errors import error_for


def jobs(team, *, state: str = "", account: int | None = None) -> QuerySet[SendJob]:
    qs = SendJob.objects.for_team(team).select_related("account", "created_by")
    if state in SendJob.State.values:
        qs = qs.filter(state=state)
    if account:
        qs = qs.filter(account_id=account)
    return qs


def recipients(job: SendJob, *, state: str = "", q: str = "") -> QuerySet[Recipient]:
    qs = Recipient.objects.filter(job=job)
    if state in Recipient.State.values:
        qs = qs.filter(state=state)
    if q.strip():
        qs = qs.filter(openid=q.strip())
    return qs.order_by("id")


def error_groups(job: SendJob) -> list[dict]:
    """Failed, skipped and unknown recipients by (state, errcode, reason), biggest first."""
    rows = (Recipient.objects.filter(job=job, state__in=["failed", "skipped", "unknown"])
            .values("state", "errcode", "reason").annotate(n=Count("id")).order_by("-n"))
    out = []
    for row in rows:
        code = row["errcode"]
        if code is not None:
            meaning = error_for(code).meaning
        elif row["reason"]:
            meaning = str(Recipient.Reason(row["reason"]).label)
        else:
            meaning = str(Recipient.State(row["state"]).label)
        out.append({"state": row["state"], "errcode": code, "reason": row["reason"],
                    "count": row["n"], "meaning": meaning})
    return out


def delivery_counts(job: SendJob) -> dict[str, int]:
    """TEMPLATESENDJOBFINISH statuses received so far."""
    rows = (Recipient.objects.filter(job=job).exclude(delivery="").values("delivery")
            .annotate(n=Count("id")))
    return {row["delivery"]: row["n"] for row in rows}
