from __future__ import annotations

from django.http import HttpRequest

from mediabao.accounts.selectors import teams_of


def team(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "current_team": getattr(request, "team", None),
        "current_membership": getattr(request, "membership", None),
        "my_teams": teams_of(user),
    }
