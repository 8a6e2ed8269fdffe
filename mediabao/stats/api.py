"""``GET /api/v1/stats/daily/?start=&end=&account=&activity=``: the statistics page as JSON.

Dates are local days (Asia/Shanghai) in ISO form; the default range is the last 30
days, at most 366. Bad input is a 400 with per-field errors; an account or activity
id of another team is a 404, like an id that does not exist.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from mediabao.core.api import request_team
from mediabao.stats import selectors
from mediabao.stats.forms import StatsFilterForm
from mediabao.stats.views import resolve

PARAMS = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="First day (default: 29 days before end)"),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (default: today, Asia/Shanghai)"),
    OpenApiParameter("account", int, description="Only this official account"),
    OpenApiParameter("activity", int, description="Only this activity"),
]


def form_errors(form) -> ValidationError:
    return ValidationError({("non_field_errors" if name == "__all__" else name):
                            [e["message"] for e in errors]
                            for name, errors in form.errors.get_json_data().items()})


def as_json(rep: selectors.Report) -> dict:
    return {
        "start": rep.start, "end": rep.end, "timezone": str(selectors.TZ),
        "account": rep.account.pk if rep.account else None,
        "activity": rep.activity.pk if rep.activity else None,
        "days": [{"day": d.day, **d.as_dict()} for d in rep.days],
        "totals": rep.totals.as_dict(),
        "top_inviters": [vars(i) for i in rep.top_inviters],
        "levels": [{"level": lv, "participants": n} for lv, n in rep.levels],
        "channels": rep.channels,
    }


class StatsViewSet(viewsets.ViewSet):
    """Statistics of the request's team (数据统计)."""

    @extend_schema(parameters=PARAMS, responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["get"])
    def daily(self, request):
        """Per day: new followers, unfollows, net growth, participants joined, assists and
        tiers completed; with totals, top inviters, fission levels and promo codes."""
        team = request_team(request)
        form = StatsFilterForm(request.query_params)
        if not form.is_valid():
            raise form_errors(form)
        account, activity = resolve(team, form.cleaned_data)
        rep = selectors.report(team, form.cleaned_data["start"], form.cleaned_data["end"],
                               account=account, activity=activity)
        return Response(as_json(rep))
