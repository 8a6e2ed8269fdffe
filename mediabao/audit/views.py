"""Console page of the audit log (操作日志): owners and admins only."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from mediabao.audit import selectors
from mediabao.audit.forms import AuditFilterForm

PAGE_SIZE = 50


def require_manager(request: HttpRequest) -> None:
    """No team: 404; a plain member: 403."""
    membership = getattr(request, "membership", None)
    if getattr(request, "team", None) is None or membership is None:
        raise Http404
    if not membership.can_manage:
        raise PermissionDenied


@login_required
def entry_list(request: HttpRequest) -> HttpResponse:
    require_manager(request)
    form = AuditFilterForm(request.GET or None, actors=selectors.actors(request.team))
    page = Paginator(selectors.entries(request.team, form.to_filter()), PAGE_SIZE).get_page(
        request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "audit/entry_list.html", {"form": form, "page": page,
                                                     "query": query.urlencode()})
