"""Console pagination that stays fast on tables of millions of rows.

Django's :class:`~django.core.paginator.Paginator` runs an exact ``count(*)`` of the whole
filtered list on every page view: a full scan of a million fans or events. The
:class:`BoundedPaginator` counts at most ``cap + 1`` rows (``SELECT count(*) FROM (… LIMIT
cap + 1)``, an index scan that stops early) and, above the cap, shows PostgreSQL's
planner estimate (``EXPLAIN``) as "about N". Browsing stops at the cap (``cap / per_page``
pages): narrow the filter or use the CSV export to go further.
"""

from __future__ import annotations

import json
import logging

from django.core.paginator import Paginator
from django.db import DatabaseError, connections
from django.db.models import QuerySet
from django.utils.functional import cached_property
from django.utils.translation import gettext as _

log = logging.getLogger(__name__)

#: Rows counted exactly before a list shows "about N" (200 pages of 50).
DEFAULT_CAP = 10_000


def planner_estimate(queryset: QuerySet) -> int | None:
    """PostgreSQL's estimate of the rows of ``queryset`` (``EXPLAIN``; nothing is run)."""
    try:
        sql, params = queryset.order_by().query.sql_with_params()
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
    except (DatabaseError, IndexError, TypeError):
        log.exception("EXPLAIN estimate failed")
        return None
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class BoundedPaginator(Paginator):
    """A paginator whose ``count`` is exact up to ``cap`` rows and capped above it.

    ``exact`` says whether ``count`` is the true total; ``count_label`` is what the page
    shows: ``"1,234"``, ``"about 1,000,000"`` (the planner's estimate) or ``"10,000+"``.
    """

    def __init__(self, object_list, per_page: int, cap: int = DEFAULT_CAP, **kwargs) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self.cap = max(cap, per_page)
        self.exact = True
        self.estimate: int | None = None

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if not isinstance(qs, QuerySet):
            return super().count
        n = qs.order_by()[: self.cap + 1].count()
        if n <= self.cap:
            return n
        self.exact = False
        estimate = planner_estimate(qs)
        self.estimate = estimate if estimate and estimate > self.cap else None
        return self.cap

    @cached_property
    def count_label(self) -> str:
        total = self.count
        if self.exact:
            return f"{total:,}"
        if self.estimate:
            return _("about %(count)s") % {"count": f"{self.estimate:,}"}
        return _("%(count)s+") % {"count": f"{self.cap:,}"}


def bounded_count(queryset: QuerySet, cap: int = DEFAULT_CAP) -> tuple[int, bool]:
    """``(count, exact)``: exact up to ``cap`` rows, else the planner's estimate (at least the cap)."""
    n = queryset.order_by()[: cap + 1].count()
    if n <= cap:
        return n, True
    return max(planner_estimate(queryset) or 0, cap + 1), False


def count_label(count: int, exact: bool) -> str:
    """``"1,234"`` or ``"about 1,234"`` for a :func:`bounded_count`."""
    return f"{count:,}" if exact else _("about %(count)s") % {"count": f"{count:,}"}
