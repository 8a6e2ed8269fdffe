from __future__ import annotations

from django.http import HttpRequest

from mediabao.wechat.models import OfficialAccount


def account_alerts(request: HttpRequest) -> dict:
    """Accounts of the current team that lost their authorization: a banner on every page."""
    team = getattr(request, "team", None)
    if team is None:
        return {}
    broken = OfficialAccount.objects.for_team(team).exclude(state=OfficialAccount.State.CONNECTED)
    return {"broken_accounts": list(broken.only("id", "name", "state"))}
