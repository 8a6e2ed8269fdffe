"""Console pages of promo channels (推广码)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def channel_list(request: HttpRequest) -> HttpResponse:
    return render(request, "web/section.html",
                  {"section": "channels", "title": "Promo codes", "description": ""})
