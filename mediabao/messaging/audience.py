"""Audience resolution in SQL: counted before sending, materialized in one INSERT … SELECT.

Every audience is a SELECT of ``(openid, fan_id, in_window)``; customer-service jobs
use ``in_window`` to route a fan to the customer-service channel, to the fallback
template, or to ``skipped(out_of_window)`` — reported, never dropped.
Other apps add sources (the campaign app: its participants) with :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from django.utils import timezone

from mediabao.messaging.models import Recipient, SendJob

#: name -> f(job_audience: dict, account_id: int) -> (SQL selecting a column ``openid``, params)
SOURCES: dict[str, Callable[[dict, int], tuple[str, list]]] = {}

_WINDOW = ("((f.message_window_until > %s AND f.message_window_left > 0)"
           " OR (f.event_window_until > %s AND f.event_window_left > 0))")


def register(name: str, source: Callable[[dict, int], tuple[str, list]]) -> None:
    """Let another app supply openids for an audience type (e.g. ``campaign``)."""
    SOURCES[name] = source


def select_sql(audience: dict, account_id: int, now=None) -> tuple[str, list]:
    now = now or timezone.now()
    window = f"COALESCE({_WINDOW}, false)"
    kind = audience.get("type")
    if kind in ("openids", "campaign"):
        if kind == "openids":
            inner, inner_params = "SELECT unnest(%s::text[]) AS openid", [audience.get("openids") or []]
        else:
            inner, inner_params = SOURCES[kind](audience, account_id)
        # Only fixed fragments are interpolated into the SQL; every value is a parameter.
        sql = (f"SELECT DISTINCT ON (u.openid) u.openid, f.id AS fan_id, {window} AS in_window "  # noqa: S608
               f"FROM ({inner}) u LEFT JOIN fans_fan f ON f.account_id = %s AND f.openid = u.openid")
        return sql, [now, now, *inner_params, account_id]
    where, params = ["f.account_id = %s"], [account_id]
    if kind in ("all", "window", "tag"):
        where.append("f.subscribed")
    if kind == "window":
        where.append(_WINDOW)
        params += [now, now]
    elif kind == "tag":
        where.append("f.tags @> ARRAY[%s]::integer[]")
        params.append(int(audience.get("tag", -1)))
    elif kind == "fan":
        where.append("f.openid = %s")
        params.append(audience.get("openid", ""))
    elif kind != "all":
        raise ValueError(f"unknown audience {kind!r}")
    sql = (f"SELECT f.openid, f.id AS fan_id, {window} AS in_window FROM fans_fan f "  # noqa: S608
           f"WHERE {' AND '.join(where)}")
    return sql, [now, now, *params]


def size(audience: dict, account_id: int, kind: str) -> dict[str, int]:
    """How many fans the audience has; for customer-service, how many are in window."""
    sql, params = select_sql(audience, account_id)
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*), count(*) FILTER (WHERE a.in_window) FROM ({sql}) a",  # noqa: S608
                    params)
        total, in_window = cur.fetchone()
    if audience.get("type") == "fan" and total == 0:
        total = 1  # a fan the platform has not seen yet: WeChat decides
    out = {"total": total}
    if kind == SendJob.Kind.CUSTOM:
        out.update(in_window=in_window, out_of_window=total - in_window)
    return out


def materialize(job: SendJob) -> int:
    """Insert the job's recipients in one statement; returns how many."""
    custom = job.kind == SendJob.Kind.CUSTOM
    fallback = bool(job.fallback)
    sql, params = select_sql(job.audience, job.account_id)
    if job.audience.get("type") == "fan":
        # One fan: send even if the platform has no row for them yet.
        sql = (f"SELECT openid, max(fan_id) AS fan_id, bool_or(in_window) AS in_window FROM ("  # noqa: S608
               f"{sql} UNION ALL SELECT %s, NULL::bigint, false) x GROUP BY openid")
        params = [*params, job.audience.get("openid", "")]
    skip = "(%s AND NOT a.in_window AND NOT %s)"
    insert = f"""
        INSERT INTO messaging_recipient
            (job_id, openid, fan_id, state, channel, reason, msgid, errcode, errmsg, delivery,
             attempts, updated_at)
        SELECT %s, a.openid, a.fan_id,
               CASE WHEN {skip} THEN 'skipped' ELSE 'pending' END,
               CASE WHEN NOT %s THEN 'template' WHEN a.in_window THEN 'custom'
                    WHEN %s THEN 'template' ELSE '' END,
               CASE WHEN {skip} THEN 'out_of_window' ELSE '' END,
               '', NULL, '', '', 0, now()
        FROM ({sql}) a
        ON CONFLICT (job_id, openid) DO NOTHING
    """  # noqa: S608
    with connection.cursor() as cur:
        cur.execute(insert, [job.pk, custom, fallback, custom, fallback, custom, fallback, *params])
        cur.execute("SELECT count(*), count(*) FILTER (WHERE state = 'skipped') "
                    "FROM messaging_recipient WHERE job_id = %s", [job.pk])
        total, skipped = cur.fetchone()
    SendJob.objects.filter(pk=job.pk).update(total=total, skipped=skipped)
    job.total, job.skipped = total, skipped
    return total


def materialize_list(job: SendJob, openids: list[str]) -> int:
    """Recipients from a fixed list (retry of failed recipients): bulk_create in batches."""
    rows = [Recipient(job=job, openid=o, state=Recipient.State.PENDING,
                      channel=Recipient.Channel.TEMPLATE if job.kind == SendJob.Kind.TEMPLATE
                      else Recipient.Channel.CUSTOM) for o in openids]
    Recipient.objects.bulk_create(rows, batch_size=5000, ignore_conflicts=True)
    with connection.cursor() as cur:
        # Fill fan ids in one statement (customer-service sends consume windows by fan).
        cur.execute("UPDATE messaging_recipient r SET fan_id = f.id FROM fans_fan f "
                    "WHERE r.job_id = %s AND f.account_id = %s AND f.openid = r.openid",
                    [job.pk, job.account_id])
    total = Recipient.objects.filter(job=job).count()
    SendJob.objects.filter(pk=job.pk).update(total=total)
    job.total = total
    return total
