"""The one way to reach team-owned rows.

Every team-owned model inherits :class:`TeamOwned`; its default manager only offers
``for_team(team)`` as the entry point used by views, API views and selectors. Views
resolve objects with :func:`get_for_team_or_404`, so an id of another team is a 404,
exactly like an id that does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from django.db import models
from django.http import Http404

if TYPE_CHECKING:
    from mediabao.accounts.models import Team

M = TypeVar("M", bound="TeamOwned")


class TeamQuerySet(models.QuerySet):
    def for_team(self, team: Team | None) -> TeamQuerySet:
        if team is None:
            return self.none()
        return self.filter(team=team)


class TeamOwned(models.Model):
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+",
                             db_index=True)

    objects = TeamQuerySet.as_manager()

    class Meta:
        abstract = True


def get_for_team_or_404(model: type[M] | models.QuerySet, team: Team | None, **lookup) -> M:
    queryset = model if isinstance(model, models.QuerySet) else model.objects.all()
    try:
        return queryset.for_team(team).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc
