"""Reads for the console shell."""

from __future__ import annotations

from django.db.models import Count, Q

from mediabao.accounts.models import ApiToken, Membership, Team
from mediabao.fans.models import Fan
from mediabao.wechat.models import OfficialAccount


def dashboard_counts(team: Team) -> dict[str, int]:
    accounts = OfficialAccount.objects.for_team(team).aggregate(
        total=Count("id"), connected=Count("id", filter=Q(state=OfficialAccount.State.CONNECTED)),
    )
    return {
        "fans_following": Fan.objects.for_team(team).filter(subscribed=True).count(),
        "accounts": accounts["total"],
        "accounts_connected": accounts["connected"],
        "members": Membership.objects.filter(team=team).count(),
        "api_tokens": ApiToken.objects.for_team(team).filter(revoked_at=None).count(),
    }
