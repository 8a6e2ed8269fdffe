"""Reads of the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from mediabao.audit.models import AuditEntry


@dataclass(frozen=True)
class EntryFilter:
    actor: int | None = None
    action: str = ""
    start: date | None = None
    end: date | None = None


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def entries(team, flt: EntryFilter | None = None) -> QuerySet[AuditEntry]:
    """The team's entries, newest first; ``start``/``end`` are local days, both included."""
    flt = flt or EntryFilter()
    queryset = AuditEntry.objects.for_team(team).select_related("actor")
    if flt.actor:
        queryset = queryset.filter(actor_id=flt.actor)
    if flt.action:
        queryset = queryset.filter(action=flt.action)
    if flt.start:
        queryset = queryset.filter(created_at__gte=_day_start(flt.start))
    if flt.end:
        queryset = queryset.filter(created_at__lt=_day_start(flt.end + timedelta(days=1)))
    return queryset.order_by("-created_at", "-id")


def actors(team) -> list[tuple[int, str]]:
    """(user id, name) of everyone who appears in the team's log."""
    rows = (AuditEntry.objects.for_team(team).exclude(actor=None)
            .values_list("actor_id", "actor_name").distinct().order_by("actor_name"))
    seen: dict[int, str] = {}
    for actor_id, name in rows:
        seen.setdefault(actor_id, name)
    return sorted(seen.items(), key=lambda item: item[1])
