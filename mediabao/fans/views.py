"""Console pages of fans (粉丝): the list with filters, CSV export, follower sync."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mediabao.core.paging import BoundedPaginator
from mediabao.core.tenancy import get_for_team_or_404
from mediabao.fans import selectors, services
from mediabao.fans.forms import FanFilterForm
from mediabao.fans.models import FanSync
from mediabao.fans.tasks import sync_fans
from mediabao.wechat.models import OfficialAccount


def _filter_form(request: HttpRequest) -> FanFilterForm:
    accounts = OfficialAccount.objects.for_team(request.team)
    return FanFilterForm(request.GET or None, accounts=accounts)


@login_required
def fan_list(request: HttpRequest) -> HttpResponse:
    form = _filter_form(request)
    queryset = selectors.fans(request.team, form.to_filter())
    page = BoundedPaginator(queryset, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    accounts = list(OfficialAccount.objects.for_team(request.team))
    syncs = selectors.latest_syncs(request.team, [a.pk for a in accounts])
    account_syncs = [(a, syncs.get(a.pk)) for a in accounts]
    return render(request, "fans/fan_list.html", {
        "form": form, "page": page, "query": query.urlencode(), "account_syncs": account_syncs,
    })


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def fan_export(request: HttpRequest) -> StreamingHttpResponse:
    """Stream the filtered list as CSV (UTF-8 with BOM, so Excel reads Chinese)."""
    form = _filter_form(request)
    queryset = selectors.fans(request.team, form.to_filter())
    writer = csv.writer(_Echo())
    header = [_("OpenID"), _("UnionID"), _("Official account"), _("Nickname"), _("Following"),
              _("Followed at"), _("Unfollowed at"), _("Source"), _("Tags"), _("Last interaction")]

    def rows():
        yield "\ufeff" + writer.writerow(header)
        for fan in queryset.iterator(chunk_size=2000):
            yield writer.writerow([
                fan.openid, fan.unionid, fan.account.name, fan.nickname,
                "1" if fan.subscribed else "0",
                fan.subscribe_time.isoformat() if fan.subscribe_time else "",
                fan.unsubscribe_time.isoformat() if fan.unsubscribe_time else "",
                fan.get_source_display(), " ".join(map(str, fan.tags)),
                fan.last_interaction_at.isoformat() if fan.last_interaction_at else "",
            ])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="fans-{timezone.now():%Y%m%d-%H%M}.csv"'
    return response


@login_required
@require_POST
def start_sync(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_for_team_or_404(OfficialAccount, request.team, pk=account_id)
    sync, created = services.start_sync(account)
    if created:
        sync_fans.delay(sync.pk)
        messages.success(request, _("Follower sync started for %(name)s.") % {"name": account.name})
    else:
        messages.info(request, _("A follower sync of %(name)s is already running.") % {"name": account.name})
    return redirect("fans:list")


@login_required
def sync_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar, polled by htmx while a sync runs."""
    sync = get_for_team_or_404(FanSync, request.team, pk=pk)
    return render(request, "fans/sync_progress.html", {"sync": sync})
