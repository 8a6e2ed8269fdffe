"""Console pages of official accounts (公众号)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from mediabao.core.crypto import mask
from mediabao.core.tenancy import get_for_team_or_404
from mediabao.wechat.models import OfficialAccount


@login_required
def account_list(request: HttpRequest) -> HttpResponse:
    accounts = OfficialAccount.objects.for_team(request.team)
    return render(request, "wechat/account_list.html", {"accounts": accounts})


@login_required
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_for_team_or_404(OfficialAccount, request.team, pk=pk)
    return render(request, "wechat/account_detail.html", {
        "account": account, "masked_secret": mask(account.appsecret),
        "masked_aes_key": mask(account.encoding_aes_key),
    })
