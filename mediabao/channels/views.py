"""Console pages of promo channels (推广码): list, create, edit, archive, detail with stats."""

from __future__ import annotations

import csv
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mediabao.channels import qr, selectors, services, svgchart
from mediabao.channels.forms import (
    ChannelCreateForm,
    ChannelEditForm,
    ChannelFilterForm,
    QRForm,
    StatsRangeForm,
)
from mediabao.channels.models import Channel
from mediabao.core.tenancy import get_for_team_or_404
from mediabao.wechat.models import OfficialAccount

PAGE_SIZE = 20


def _budgets(team) -> list[tuple[OfficialAccount, dict]]:
    return [(a, services.budget(a)) for a in OfficialAccount.objects.for_team(team)]


@login_required
def channel_list(request: HttpRequest) -> HttpResponse:
    accounts = OfficialAccount.objects.for_team(request.team)
    form = ChannelFilterForm(request.GET or None, accounts=accounts)
    page = Paginator(selectors.channels(request.team, form.to_filter()), PAGE_SIZE).get_page(
        request.GET.get("page"))
    counts = selectors.counts_for([c.pk for c in page])
    rows = [(c, counts[c.pk]) for c in page]
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "channels/channel_list.html", {
        "form": form, "page": page, "rows": rows, "query": query.urlencode(),
        "budgets": _budgets(request.team),
    })


@login_required
def channel_create(request: HttpRequest) -> HttpResponse:
    form = ChannelCreateForm(request.POST or None, team=request.team,
                             initial={"account": request.GET.get("account")})
    if request.method == "POST" and form.is_valid():
        try:
            channel = services.create_channel(account=form.cleaned_data["account"],
                                              name=form.cleaned_data["name"],
                                              note=form.cleaned_data["note"], user=request.user)
        except services.ChannelError as exc:
            form.add_error(exc.field, exc.message)
        else:
            messages.success(request, _("Promo code “%(name)s” created.") % {"name": channel.name})
            return redirect("channels:detail", pk=channel.pk)
    return render(request, "channels/channel_form.html", {
        "form": form, "creating": True, "budgets": _budgets(request.team),
    })


@login_required
def channel_edit(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_for_team_or_404(Channel, request.team, pk=pk)
    form = ChannelEditForm(request.POST or None, channel=channel)
    if request.method == "POST" and form.is_valid():
        services.update_channel(channel, name=form.cleaned_data["name"], note=form.cleaned_data["note"])
        messages.success(request, _("Promo code “%(name)s” saved.") % {"name": channel.name})
        return redirect("channels:detail", pk=channel.pk)
    return render(request, "channels/channel_form.html", {"form": form, "channel": channel})


@login_required
@require_POST
def channel_archive(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_for_team_or_404(Channel, request.team, pk=pk)
    archive = request.POST.get("archived", "1") != "0"
    services.set_archived(channel, archive)
    if archive:
        messages.success(request, _("Promo code “%(name)s” archived. Its printed code keeps working "
                                    "and follows through it are still counted.") % {"name": channel.name})
    else:
        messages.success(request, _("Promo code “%(name)s” restored.") % {"name": channel.name})
    return redirect("channels:detail", pk=channel.pk)


def chart_for(stats: selectors.Stats):
    labels = [d.day.strftime("%m-%d") for d in stats.days]
    return svgchart.render(labels, [
        svgchart.Series(_("New fans"), [d.new for d in stats.days], "#198754"),
        svgchart.Series(_("Unfollows"), [-d.unfollowed for d in stats.days], "#adb5bd"),
        svgchart.Series(_("Net growth"), [d.net for d in stats.days], "#0d6efd", kind="line"),
    ], title=_("Follows through this promo code by day"))


@login_required
def channel_detail(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_for_team_or_404(Channel.objects.select_related("account", "created_by"),
                                  request.team, pk=pk)
    default_start, default_end = selectors.default_range()
    range_form = StatsRangeForm(request.GET or None, initial={"start": default_start, "end": default_end})
    start, end = range_form.range()
    stats = selectors.stats(channel, start, end)
    return render(request, "channels/channel_detail.html", {
        "channel": channel, "range_form": range_form, "stats": stats, "chart": chart_for(stats),
        "sizes": qr.SIZES, "default_size": qr.DEFAULT_SIZE,
    })


@login_required
def channel_qr(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """The code drawn from its ``url``: PNG at a print size, or SVG; ``?inline=1`` for previews."""
    channel = get_for_team_or_404(Channel, request.team, pk=pk)
    return qr_response(channel, kind, request.GET, inline=request.GET.get("inline") == "1")


def qr_response(channel: Channel, kind: str, params, *, inline: bool = False) -> HttpResponse:
    if kind == "svg":
        response = HttpResponse(qr.svg(channel.url, title=channel.name), content_type="image/svg+xml")
        size = None
    elif kind == "png":
        form = QRForm(params)
        size = form.cleaned_data["size"] if form.is_valid() else qr.DEFAULT_SIZE
        response = HttpResponse(qr.png(channel.url, size), content_type="image/png")
    else:
        raise Http404(kind)
    if not inline:
        response["Content-Disposition"] = qr.disposition(channel.name, kind, size)
    response["Cache-Control"] = "private, max-age=3600"
    return response


def stats_csv(channel: Channel, stats: selectors.Stats) -> HttpResponse:
    out = io.StringIO()
    out.write("\ufeff")  # Excel reads UTF-8 Chinese only with the BOM
    writer = csv.writer(out)
    writer.writerow([_("Day"), _("New fans"), _("Unfollows"), _("Net growth"), _("Still following"),
                     _("Scans by followers")])
    for d in stats.days:
        writer.writerow([d.day.isoformat(), d.new, d.unfollowed, d.net, d.retained, d.scans])
    t = stats.totals
    writer.writerow([_("Total"), t.new, t.unfollowed, t.net, t.retained, t.scans])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = qr.disposition(
        f"{channel.name}-{stats.start:%Y%m%d}-{stats.end:%Y%m%d}", "csv")
    return response


@login_required
def channel_stats_csv(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_for_team_or_404(Channel, request.team, pk=pk)
    form = StatsRangeForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return HttpResponse("; ".join(e for errs in form.errors.values() for e in errs),
                            status=400, content_type="text/plain; charset=utf-8")
    start, end = form.range()
    return stats_csv(channel, selectors.stats(channel, start, end))
