"""Resolve the current team of a console request (``request.team``, ``request.membership``).

API requests authenticated by token get their team from the token instead (see
:mod:`mediabao.accounts.authentication`), after DRF has authenticated them.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from mediabao.accounts.selectors import current_membership


class CurrentTeamMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = current_membership(request.user) if request.user.is_authenticated else None
        request.membership = membership
        request.team = membership.team if membership else None
        return self.get_response(request)
