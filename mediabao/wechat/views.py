"""Console pages of official accounts (公众号) and the WeChat callback endpoint."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from mediabao.accounts.models import MANAGER_ROLES
from mediabao.core.crypto import mask
from mediabao.core.paging import BoundedPaginator
from mediabao.core.tenancy import get_for_team_or_404
from mediabao.wechat import callbacks, selectors, services
from mediabao.wechat.forms import DeveloperAccountForm
from mediabao.wechat.models import OfficialAccount, callback_url_for

log = logging.getLogger(__name__)


def _url_or_none(name: str, *args) -> str | None:
    """Links to gateway pages only once their URLs are mounted (see wechat/urls.py)."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _is_manager(request: HttpRequest) -> bool:
    membership = getattr(request, "membership", None)
    return membership is not None and membership.role in MANAGER_ROLES


@login_required
def account_list(request: HttpRequest) -> HttpResponse:
    accounts = OfficialAccount.objects.for_team(request.team)
    from mediabao.wechat import component

    response = render(request, "wechat/account_list.html", {
        "accounts": accounts,
        "add_url": _url_or_none("wechat:account_add") if _is_manager(request) else None,
        "component_enabled": component.is_configured(),
    })
    # "授权公众号" posts here and is redirected to WeChat's authorize page; the page's CSP
    # form-action governs that redirect too.
    response._csp_update = {"form-action": [settings.WECHAT_MP_BASE]}
    return response


@login_required
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_for_team_or_404(OfficialAccount, request.team, pk=pk)
    return render(request, "wechat/account_detail.html", {
        "account": account, "masked_secret": mask(account.appsecret),
        "masked_aes_key": mask(account.encoding_aes_key),
        "masked_token": mask(account.callback_token),
        "recent_events": selectors.events_for(request.team, account=account)[:10],
        "events_url": _url_or_none("wechat:events", account.pk),
        "call_counts": selectors.call_counts(account.appid),
    })


@login_required
def account_add(request: HttpRequest) -> HttpResponse:
    """Developer mode: verify the credentials with WeChat, then show the server URL.

    Owners and admins only (as in the API): connecting an account hands its secrets to the team.
    """
    if not _is_manager(request):
        raise PermissionDenied
    form = DeveloperAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.add_developer_account(request.team, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in (exc.message_dict.items() if hasattr(exc, "error_dict")
                                  else [(None, exc.messages)]):
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, _("%(name)s is connected. Configure the server URL below in the "
                                        "WeChat admin console.") % {"name": account.name})
            return redirect("web:account_detail", account.pk)
    appid = (form.data.get("appid") or "").strip() if form.is_bound else ""
    return render(request, "wechat/account_add.html", {
        "form": form, "callback_url": callback_url_for(appid or "<AppID>"),
    })


@login_required
def event_log(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_for_team_or_404(OfficialAccount, request.team, pk=pk)
    kind = request.GET.get("kind", "")[:64]
    openid = request.GET.get("openid", "")[:64]
    events = selectors.events_for(request.team, account=account, kind=kind, openid=openid)
    page = BoundedPaginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "wechat/event_log.html", {
        "account": account, "page": page, "kind": kind, "openid": openid,
    })


@csrf_exempt  # WeChat cannot send a CSRF token; requests are authenticated by signature.
@require_http_methods(["GET", "POST"])
def callback(request: HttpRequest, appid: str) -> HttpResponse:
    """``/wechat/callback/<appid>/``: URL verification (GET) and pushes (POST)."""
    account = selectors.account_for_callback(appid[:32])
    if account is None:
        return HttpResponse("unknown account", status=404, content_type="text/plain")
    try:
        if request.method == "GET":
            return HttpResponse(callbacks.verify_url(account, request.GET), content_type="text/plain")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = callbacks.max_body_bytes()
        if length > limit:
            raise callbacks.Rejected(400, "body too large")
        body = request.read(limit + 1)
        # the few ASCII parameters WeChat signs: a plain dict, not a QueryDict (a third of
        # the cost of request.GET, on the hottest path)
        query = dict(parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True))
        reply = callbacks.handle_post(account, query, body)
    except callbacks.Rejected as exc:
        log.warning("callback for %s rejected (%s): %s", appid, exc.status, exc.reason)
        return HttpResponse(exc.reason, status=exc.status, content_type="text/plain")
    content_type = "text/plain" if reply == "success" else "application/xml; charset=utf-8"
    return HttpResponse(reply, content_type=content_type)
