"""Console page of statistics (数据统计) and its CSV export."""

from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from mediabao.campaigns.models import Activity
from mediabao.channels import svgchart
from mediabao.core.tenancy import get_for_team_or_404
from mediabao.stats import selectors
from mediabao.stats.forms import PRESETS, StatsFilterForm
from mediabao.wechat.models import OfficialAccount

GREEN, GREY, BLUE, ORANGE, PURPLE = "#198754", "#adb5bd", "#0d6efd", "#fd7e14", "#6f42c1"


def resolve(team, data, form: StatsFilterForm | None = None
            ) -> tuple[OfficialAccount | None, Activity | None]:
    """The filter's account and activity in the team; another team's id is a 404.
    With the filter ``form``, they are picked from the team's accounts and activities it
    has already read for its choices (no query)."""
    account = activity = None
    if data.get("account"):
        account = (_pick(form.accounts, data["account"]) if form is not None
                   else get_for_team_or_404(OfficialAccount, team, pk=data["account"]))
    if data.get("activity"):
        activity = (_pick(form.activities, data["activity"]) if form is not None
                    else get_for_team_or_404(Activity, team, pk=data["activity"]))
    return account, activity


def _pick(objects, pk: int):
    for obj in objects:
        if obj.pk == pk:
            return obj
    raise Http404


def filter_form(request: HttpRequest) -> StatsFilterForm:
    team = request.team
    return StatsFilterForm(
        request.GET or None,
        accounts=list(OfficialAccount.objects.for_team(team).order_by("name").only("pk", "name")),
        activities=list(Activity.objects.for_team(team).order_by("-start_time").only("pk", "name")),
    )


def charts(rep: selectors.Report) -> dict:
    labels = [d.day.strftime("%m-%d") for d in rep.days]
    out = {
        "growth": svgchart.render(labels, [
            svgchart.Series(_("New followers"), [d.new_fans for d in rep.days], GREEN),
            svgchart.Series(_("Unfollows"), [-d.unfollows for d in rep.days], GREY),
            svgchart.Series(_("Net growth"), [d.net for d in rep.days], BLUE, kind="line"),
        ], title=_("Followers by day")),
        "campaign": svgchart.render(labels, [
            svgchart.Series(_("Assists"), [d.assists for d in rep.days], ORANGE),
            svgchart.Series(_("Participants joined"), [d.joined for d in rep.days], BLUE, kind="line"),
            svgchart.Series(_("Tiers completed"), [d.tiers for d in rep.days], PURPLE, kind="line"),
        ], title=_("Campaigns by day")),
    }
    if rep.levels:
        out["levels"] = svgchart.render(
            [_("Level %(n)s") % {"n": lv} for lv, _n in rep.levels],
            [svgchart.Series(_("Participants"), [n for _lv, n in rep.levels], PURPLE)],
            title=_("Fission levels"), width=380, height=200, label_every=1)
    if rep.channels:
        top = rep.channels[:15]
        out["channels"] = svgchart.render(
            [c["name"][:8] for c in top],
            [svgchart.Series(_("New followers"), [c["new"] for c in top], GREEN),
             svgchart.Series(_("Unfollows"), [-c["unfollowed"] for c in top], GREY)],
            title=_("Promo codes"), height=240, label_every=1)
    return out


def _query(**params) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    team = request.team
    form = filter_form(request)
    account = activity = None
    if form.is_bound and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        account, activity = resolve(team, form.cleaned_data, form)
    else:
        start, end = selectors.default_range()
    rep = selectors.report(team, start, end, account=account, activity=activity)
    ids = {"account": account.pk if account else "", "activity": activity.pk if activity else ""}
    presets = []
    for days in PRESETS:
        p_start, p_end = selectors.preset_range(days)
        presets.append({"days": days, "active": (start, end) == (p_start, p_end),
                        "query": _query(start=p_start.isoformat(), end=p_end.isoformat(), **ids)})
    return render(request, "stats/overview.html", {
        "form": form, "report": rep, "charts": charts(rep), "presets": presets,
        "csv_query": _query(start=start.isoformat(), end=end.isoformat(), **ids),
        "days_desc": list(reversed(rep.days)),
    })


def daily_csv_response(rep: selectors.Report) -> HttpResponse:
    out = io.StringIO()
    out.write("\ufeff")  # Excel reads UTF-8 Chinese only with the BOM
    writer = csv.writer(out)
    writer.writerow([_("Day"), _("New followers"), _("Unfollows"), _("Net growth"),
                     _("Participants joined"), _("Assists"), _("Tiers completed")])
    for d in rep.days:
        writer.writerow([d.day.isoformat(), *(getattr(d, f) for f in selectors.FIELDS)])
    writer.writerow([_("Total"), *(getattr(rep.totals, f) for f in selectors.FIELDS)])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="stats-{rep.start:%Y%m%d}-{rep.end:%Y%m%d}.csv"')
    return response


@login_required
def daily_csv(request: HttpRequest) -> HttpResponse:
    form = filter_form(request)
    if form.is_bound and not form.is_valid():
        return HttpResponse("; ".join(e for errs in form.errors.values() for e in errs),
                            status=400, content_type="text/plain; charset=utf-8")
    if form.is_bound:
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        account, activity = resolve(request.team, form.cleaned_data, form)
    else:
        (start, end), account, activity = selectors.default_range(), None, None
    return daily_csv_response(selectors.report(request.team, start, end, account=account,
                                               activity=activity, daily_only=True))
