"""Campaign rehearsal (演练, SPEC §7): a simulated crowd against an activity, sandbox only.

When the platform talks to wxsim (``settings.WXSIM_ENABLED``), an operator can start
wxsim's crowd driver against a running activity through the simulator's control API
(``<WECHAT_API_BASE>/_sim/crowd``): seed fans follow the account by a temporary QR
code made for the run and send the join keyword; every fan opens the OAuth link of the
news card it receives (``open_links``), gets a poster, and friends scan the poster's
code. The platform handles all of it as real traffic; the console polls the crowd's
status and the activity's figures while they fill.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import requests
from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from mediabao.campaigns.models import Activity, Assist, Notice, Participant, Rehearsal, RewardClaim
from mediabao.wechat.models import OfficialAccount

log = logging.getLogger(__name__)

#: Actions per second the crowd may take (the simulator caps at 2000).
RATE = 20.0
ENTRY_QR_SECONDS = 3600


class RehearsalError(Exception):
    """A refusal the operator should read (already translated)."""


def available() -> bool:
    """True when WeChat is the built-in simulator (the sandbox)."""
    return bool(getattr(settings, "WXSIM_ENABLED", False)) and bool(settings.WECHAT_API_BASE)


def _control(method: str, path: str, body: dict | None = None) -> dict:
    url = f"{settings.WECHAT_API_BASE}/_sim/{path.lstrip('/')}"
    try:
        response = requests.request(method, url, json=body, timeout=10)
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise RehearsalError(_("The WeChat simulator did not answer: %(error)s") % {"error": exc}) from exc
    if not data.get("ok", response.ok):
        raise RehearsalError(_("The WeChat simulator refused: %(error)s")
                             % {"error": data.get("error") or response.status_code})
    return data


@dataclass
class Config:
    seeds: int
    share_rate: int
    branching: int
    unfollow_rate: int
    max_fans: int
    duration: int


def start(activity: Activity, account: OfficialAccount, cfg: Config, user=None) -> Rehearsal:
    """Start a crowd run against ``activity`` on ``account``; refused outside the sandbox."""
    from mediabao.wechat.client import WeChatClient
    from mediabao.wechat.errors import WeChatError

    if not available():
        raise RehearsalError(_("Rehearsals run only in the sandbox (the built-in WeChat simulator)."))
    if not activity.is_running():
        raise RehearsalError(_("The activity is not running: a rehearsal needs it running."))
    if not activity.accounts.filter(pk=account.pk).exists():
        raise RehearsalError(_("This activity is not available on this account."))
    try:  # the seeds' entry: a temporary code whose scene no feature claims
        entry = WeChatClient(account).post("cgi-bin/qrcode/create", {
            "expire_seconds": ENTRY_QR_SECONDS, "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": f"rehearsal_{activity.pk}"}}})
    except WeChatError as exc:
        raise RehearsalError(_("The entry QR code could not be made: %(error)s") % {"error": exc}) from exc
    body = {
        "appid": account.appid, "ticket": entry["ticket"], "seeds": cfg.seeds,
        "friends": cfg.branching, "p_scan": cfg.share_rate / 100, "p_unfollow": cfg.unfollow_rate / 100,
        "unfollow_after": 5.0, "keyword": activity.join_keyword, "open_links": True,
        "max_fans": cfg.max_fans, "max_seconds": float(cfg.duration), "rate": RATE,
        "idle_seconds": 15.0, "concurrency": 8,
    }
    run = _control("POST", "crowd", body)["run"]
    log.info("rehearsal of activity %s started: crowd run %s", activity.pk, run["id"])
    return Rehearsal.objects.create(team_id=activity.team_id, activity=activity, account=account,
                                    run_id=run["id"], config=body, started_by=user, last_status=run)


def status(rehearsal: Rehearsal) -> dict:
    """The crowd's status (the last one known if the simulator restarted)."""
    try:
        run = _control("GET", f"crowd/{rehearsal.run_id}")["run"]
    except RehearsalError:
        return {**rehearsal.last_status, "state": rehearsal.last_status.get("state", "unknown"),
                "stale": True}
    if run.get("config", {}).get("appid") != rehearsal.account.appid:
        return {**rehearsal.last_status, "stale": True}
    Rehearsal.objects.filter(pk=rehearsal.pk).update(last_status=run)
    return run


def stop(rehearsal: Rehearsal) -> dict:
    run = _control("DELETE", f"crowd/{rehearsal.run_id}")["run"]
    Rehearsal.objects.filter(pk=rehearsal.pk).update(last_status=run)
    return run


@dataclass
class Figures:
    participants: int
    joined: int
    assists: int
    unfollowed: int
    tiers: int
    notices: int
    levels: list[tuple[int, int]]
    stock: list[tuple[str, int | None, int | None]]


def figures(activity: Activity, since: datetime | None = None) -> Figures:
    """The activity's figures since the run started (what the live view shows)."""
    # Assists and the rows they create carry WeChat's CreateTime (whole seconds): an
    # event in the run's first second is stamped before a start time with microseconds.
    since = (since or timezone.now()).replace(microsecond=0)
    people = Participant.objects.filter(activity=activity, created_at__gte=since)
    counts = people.aggregate(n=Count("id"), joined=Count("id", filter=Q(joined=True)))
    assists = Assist.objects.filter(activity=activity, created_at__gte=since)
    return Figures(
        participants=counts["n"], joined=counts["joined"], assists=assists.count(),
        unfollowed=assists.filter(unfollowed_at__isnull=False).count(),
        tiers=RewardClaim.objects.filter(tier__activity=activity, created_at__gte=since).count(),
        notices=Notice.objects.filter(participant__activity=activity, created_at__gte=since).count(),
        levels=list(people.values("level").annotate(n=Count("id")).order_by("level")
                    .values_list("level", "n")),
        stock=[(t.prize, t.remaining, t.stock) for t in activity.tiers.order_by("level")],
    )
