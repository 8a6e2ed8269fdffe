"""Reads for the console shell."""

from __future__ import annotations

from django.db.models import Count, Q

from mediabao.accounts.models import ApiToken, Membership, Team
from mediabao.core.paging import bounded_count, count_label
from mediabao.fans.models import Fan
from mediabao.wechat.models import OfficialAccount


def dashboard_counts(team: Team) -> dict[str, int]:
    accounts = OfficialAccount.objects.for_team(team).aggregate(
        total=Count("id"), connected=Count("id", filter=Q(state=OfficialAccount.State.CONNECTED)),
    )
    return {
        # exact up to 10,000 fans, PostgreSQL's estimate above (a count(*) reads every row)
        "fans_following": count_label(*bounded_count(Fan.objects.for_team(team).filter(subscribed=True))),
        "accounts": accounts["total"],
        "accounts_connected": accounts["connected"],
        "members": Membership.objects.filter(team=team).count(),
        "api_tokens": ApiToken.objects.for_team(team).filter(revoked_at=None).count(),
    }
