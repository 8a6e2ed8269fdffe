"""Console and mobile pages of the operator's WeChat binding."""

from __future__ import annotations

import base64

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mediabao.accounts import binding
from mediabao.wechat.errors import WeChatError
from mediabao.wechat.models import OfficialAccount


def _qr_data_uri(url: str) -> str:
    svg = segno.make(url, error="m").svg_inline(scale=5, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


@login_required
def page(request: HttpRequest) -> HttpResponse:
    accounts = OfficialAccount.objects.for_team(request.team).filter(
        state=OfficialAccount.State.CONNECTED)
    account = accounts.filter(pk=request.GET.get("account") or 0).first() if request.GET.get(
        "account", "").isdigit() else None
    account = account or accounts.first()
    link = binding.start(request.user, account) if account else None
    bound_account = OfficialAccount.objects.filter(appid=request.user.wx_appid).first()
    return render(request, "accounts/wx_binding.html", {
        "accounts": accounts, "account": account, "link": link,
        "qr": _qr_data_uri(link) if link else None, "bound_account": bound_account,
    })


@login_required
def status(request: HttpRequest) -> HttpResponse:
    """Polled by the page while the QR code is shown."""
    request.user.refresh_from_db(fields=["wx_openid", "wx_appid"])
    return render(request, "accounts/_wx_binding_status.html")


@login_required
@require_POST
def unbind(request: HttpRequest) -> HttpResponse:
    binding.unbind(request.user)
    messages.success(request, _("Your WeChat is unbound."))
    return redirect("accounts:wx_binding")


def open_link(request: HttpRequest, key: str) -> HttpResponse:
    """What the scanned QR code opens (in WeChat): off to the account's OAuth page."""
    found = binding.pending(key)
    if found is None:
        return render(request, "accounts/wx_binding_done.html", {"ok": False}, status=404)
    return redirect(binding.oauth_link(key, found[1]))


def done(request: HttpRequest) -> HttpResponse:
    code, key = request.GET.get("code", ""), request.GET.get("state", "")
    user = None
    if code and key:
        try:
            user = binding.finish(key, code)
        except WeChatError:
            user = None
    return render(request, "accounts/wx_binding_done.html", {"ok": user is not None},
                  status=200 if user else 400)
