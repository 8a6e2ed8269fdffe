"""Writes of 任务宝: joining, QR codes and posters, assists, unfollows, tiers, notices.

Event-path functions (``record_assist``, ``record_unfollow``) run inside the callback's
transaction and must stay fast: every WeChat call they cause is a Notice sent by a
Celery task after commit.
"""

from __future__ import annotations

import hashlib
import logging
import re
import string
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from mediabao.audit import services as audit
from mediabao.campaigns.models import (
    QR_EXPIRE_SECONDS,
    Activity,
    Assist,
    AwardTier,
    Notice,
    Participant,
    RewardClaim,
)
from mediabao.core.db import insert_or_skip, upsert
from mediabao.wechat.models import OfficialAccount

log = logging.getLogger(__name__)

SCENE_RE = re.compile(r"^ac_(\d{1,12})_(\d{1,12})$")
#: A QR code with less than this left is renewed before drawing a poster.
QR_RENEW_MARGIN = timedelta(days=1)
AVATAR_MAX_BYTES = 2 * 1024 * 1024
PLACEHOLDERS = ("nickname", "invites", "remaining", "prize", "level", "claim", "inviter", "keyword",
                "activity")
H5_SALT = "campaigns.h5"


class CampaignError(Exception):
    """A refusal the fan or operator should read (already translated)."""


# --- text helpers ----------------------------------------------------------------------
class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def fill(template: str, **values: Any) -> str:
    """``{placeholder}`` substitution that never raises on unknown or broken placeholders."""
    try:
        return string.Formatter().vformat(template, (), _Blank(values))
    except (ValueError, IndexError, AttributeError):
        return template


def unknown_placeholders(template: str) -> list[str]:
    try:
        names = [f for _t, f, _s, _c in string.Formatter().parse(template) if f is not None]
    except ValueError:
        return ["{"]
    return [n for n in names if n not in PLACEHOLDERS]


def parse_scene(scene: str) -> tuple[int, int] | None:
    match = SCENE_RE.match(scene or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def public_url(path: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{path}"


def h5_token(participant: Participant) -> str:
    return signing.dumps(participant.pk, salt=H5_SALT, compress=True)


def participant_pk_from_token(token: str) -> int | None:
    """The participant id a signed H5 token names; None for a forged or damaged token."""
    try:
        pk = signing.loads(token, salt=H5_SALT)
    except signing.BadSignature:
        return None
    return pk if type(pk) is int else None


def participant_from_token(token: str) -> Participant | None:
    pk = participant_pk_from_token(token)
    if pk is None:
        return None
    return Participant.objects.select_related("activity", "account").filter(pk=pk).first()


#: The page URL can be shared (WeChat's "share" sends the current URL), so what only the
#: participant may see or change (redemption codes, the address form) also needs this
#: signed cookie, set when WeChat OAuth identified them.
OWNER_COOKIE_SALT = "campaigns.owner"
OWNER_COOKIE_AGE = 90 * 86400


def owner_cookie_name(participant: Participant) -> str:
    return f"mbc{participant.pk}"


def owner_cookie_value(participant: Participant) -> str:
    """What ``response.set_signed_cookie`` stores (tests set it on their client)."""
    name = owner_cookie_name(participant)
    return signing.get_cookie_signer(salt=name + OWNER_COOKIE_SALT).sign(str(participant.openid))


def is_owner(request: Any, participant: Participant) -> bool:
    value = request.get_signed_cookie(owner_cookie_name(participant), default=None,
                                      salt=OWNER_COOKIE_SALT, max_age=OWNER_COOKIE_AGE)
    return value == participant.openid


def h5_url(participant: Participant) -> str:
    return public_url(reverse("campaigns_public:h5", args=[h5_token(participant)]))


def oauth_link(activity: Activity, account: OfficialAccount) -> str:
    from mediabao.wechat import oauth

    redirect_uri = public_url(reverse("campaigns_public:oauth", args=[activity.pk]))
    return oauth.authorize_url(account, redirect_uri, state=f"a{account.pk}", scope="snsapi_userinfo")


# --- tiers -----------------------------------------------------------------------------
def tiers(activity: Activity) -> list[AwardTier]:
    return list(activity.tiers.order_by("level"))


def next_tier(activity: Activity, invites: int, done: int = 0,
              levels: list[AwardTier] | None = None) -> AwardTier | None:
    for tier in levels if levels is not None else tiers(activity):
        if tier.level > done and tier.invites_needed > invites:
            return tier
    return None


def all_out_of_stock(activity: Activity) -> bool:
    levels = tiers(activity)
    return bool(levels) and all(t.out_of_stock for t in levels)


# --- joining ---------------------------------------------------------------------------
@dataclass
class KeywordAnswer:
    text: str
    send_card: bool = False
    activity: Activity | None = None


def keyword_answer(account: OfficialAccount, openid: str, text: str, now=None) -> KeywordAnswer | None:
    """What a fan's text means for the account's activities (None: not a join keyword)."""
    keyword = (text or "").strip()
    if not keyword:
        return None
    now = now or timezone.now()
    candidates = list(Activity.objects.filter(accounts=account, team_id=account.team_id,
                                              join_keyword=keyword).order_by("start_time"))
    if not candidates:
        return None
    running = [a for a in candidates if a.is_running(now)]
    if not running:
        upcoming = [a for a in candidates if a.state(now) == "upcoming"]
        if upcoming:
            activity = upcoming[0]
            return KeywordAnswer(_("The activity “%(name)s” has not started yet: it starts at %(start)s.") % {
                "name": activity.name,
                "start": timezone.localtime(activity.start_time).strftime("%Y-%m-%d %H:%M")})
        activity = candidates[-1]
        return KeywordAnswer(_("The activity “%(name)s” has ended. Thank you for your interest!")
                             % {"name": activity.name})
    activity = running[0]
    if Participant.objects.filter(activity=activity, account=account, openid=openid,
                                  blacklisted=True).exists():
        return KeywordAnswer(_("Sorry, you cannot take part in this activity."))
    if all_out_of_stock(activity):
        return KeywordAnswer(_("All prizes of “%(name)s” have been given out. Thank you for your "
                               "interest!") % {"name": activity.name})
    return KeywordAnswer(activity.rules, send_card=True, activity=activity)


def join(activity: Activity, account: OfficialAccount, openid: str, *, nickname: str = "",
         avatar_url: str = "", now=None) -> Participant:
    """Create or update the participant of a fan who opened the poster link."""
    now = now or timezone.now()
    if not activity.accounts.filter(pk=account.pk).exists():
        raise CampaignError(_("This activity is not available on this account."))
    if not activity.is_running(now):
        raise CampaignError(_("This activity is not running."))
    from mediabao.fans.models import Fan

    # A fan can open the link from their chat history after unfollowing: the fan table says
    # so. (No row at all: the fan's keyword message is still on its way; assume following.)
    follows = not Fan.objects.filter(account=account, openid=openid, subscribed=False).exists()
    with transaction.atomic():
        participant = _participant_for(activity, account, openid, following=follows)
        if participant.blacklisted:
            raise CampaignError(_("Sorry, you cannot take part in this activity."))
        participant.nickname = (nickname or participant.nickname)[:100]
        participant.avatar_url = (avatar_url or participant.avatar_url)[:500]
        if not participant.joined:
            participant.joined = True
            participant.joined_at = now
        participant.save()
    if nickname or avatar_url:
        from mediabao.fans.services import set_profile

        try:
            set_profile(account, openid, nickname=nickname, avatar_url=avatar_url)
        except Exception:  # the fan table is a nicety here; the participant is what matters
            log.exception("could not store the profile of %s", openid)
    return participant


def _participant_for(activity: Activity, account: OfficialAccount, openid: str,
                     **defaults: Any) -> Participant:
    """The participant row, created when missing; locked for the transaction."""
    found = Participant.objects.select_for_update().filter(
        activity=activity, account=account, openid=openid).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Participant.objects.create(team_id=activity.team_id, activity=activity,
                                              account=account, openid=openid, **defaults)
    except IntegrityError:
        return Participant.objects.select_for_update().get(activity=activity, account=account,
                                                           openid=openid)


# --- QR codes and posters --------------------------------------------------------------
def qr_is_current(qr_url: str, expires_at: Any, now: Any = None) -> bool:
    """A QR code that does not need renewing yet (more than ``QR_RENEW_MARGIN`` left)."""
    return bool(qr_url) and expires_at is not None and expires_at > (now or timezone.now()) + QR_RENEW_MARGIN


def ensure_qr(participant: Participant, client: Any = None, now=None) -> Participant:
    """A temporary QR code (30 days) for the participant; renewed when close to expiry."""
    from mediabao.wechat.client import WeChatClient

    now = now or timezone.now()
    if qr_is_current(participant.qr_url, participant.qr_expires_at, now):
        return participant
    client = client or WeChatClient(participant.account)
    result = client.post("cgi-bin/qrcode/create", {
        "expire_seconds": QR_EXPIRE_SECONDS, "action_name": "QR_STR_SCENE",
        "action_info": {"scene": {"scene_str": participant.scene}}})
    participant.qr_ticket = str(result.get("ticket", ""))[:255]
    participant.qr_url = str(result.get("url", ""))[:255]
    seconds = int(result.get("expire_seconds") or QR_EXPIRE_SECONDS)
    participant.qr_expires_at = now + timedelta(seconds=seconds)
    Participant.objects.filter(pk=participant.pk).update(
        qr_ticket=participant.qr_ticket, qr_url=participant.qr_url,
        qr_expires_at=participant.qr_expires_at)
    return participant


def layout_for(activity: Activity):
    from mediabao.campaigns.posters import PosterLayout

    return PosterLayout.from_dict(activity.poster_layout or {})


def poster_version(layout_digest: str, background_name: str, qr_url: str, nickname: str,
                   avatar_url: str) -> str:
    """The poster's cache key from its inputs: a new layout, background, QR code, nickname
    or avatar is a new key, hence a new file (and a new versioned image URL)."""
    raw = "|".join([layout_digest, background_name, qr_url, nickname, avatar_url])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def poster_key(participant: Participant) -> str:
    activity = participant.activity
    return poster_version(layout_for(activity).digest(), activity.poster_background.name,
                          participant.qr_url, participant.nickname, participant.avatar_url)


def poster_is_current(participant: Participant, now: Any = None) -> bool:
    """The stored poster matches its inputs and its QR code needs no renewing (no file check)."""
    return (bool(participant.poster_path) and participant.poster_key == poster_key(participant)
            and qr_is_current(participant.qr_url, participant.qr_expires_at, now))


def poster_file(participant: Participant) -> Path:
    return Path(settings.MEDIA_ROOT) / participant.poster_path


def fetch_avatar(url: str) -> bytes | None:
    """The fan's avatar (``headimgurl``); None on any failure (the poster gets a placeholder)."""
    if not url.startswith(("http://", "https://")):
        return None
    try:
        with requests.get(url, timeout=5, stream=True) as response:
            if response.status_code != 200:
                return None
            data = response.raw.read(AVATAR_MAX_BYTES + 1, decode_content=True)
            return data if len(data) <= AVATAR_MAX_BYTES else None
    except (requests.RequestException, OSError, ValueError):
        return None


def ensure_poster(participant: Participant, client: Any = None) -> Path:
    """The participant's poster file, drawn again only when its inputs changed (new QR
    after expiry, new layout or background, new nickname or avatar)."""
    from mediabao.campaigns.posters import render_poster

    ensure_qr(participant, client=client)
    key = poster_key(participant)
    if participant.poster_key == key and participant.poster_path and poster_file(participant).is_file():
        return poster_file(participant)
    activity = participant.activity
    with activity.poster_background.open("rb") as handle:
        background = handle.read()
    jpeg = render_poster(background, avatar=fetch_avatar(participant.avatar_url),
                         nickname=participant.nickname, qr_url=participant.qr_url,
                         layout=layout_for(activity))
    relative = f"campaigns/posters/{activity.pk}/{participant.pk}-{key}.jpg"
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")  # two makers never share one
    tmp.write_bytes(jpeg)
    tmp.replace(path)
    old = participant.poster_path
    participant.poster_path, participant.poster_key = relative, key
    Participant.objects.filter(pk=participant.pk).update(poster_path=relative, poster_key=key)
    if old and old != relative:
        (Path(settings.MEDIA_ROOT) / old).unlink(missing_ok=True)
    return path


# --- assists ---------------------------------------------------------------------------
@dataclass
class AssistResult:
    counted: bool
    reason: str
    assist: Assist | None = None
    inviter: Participant | None = None


def resolve_scene(account: OfficialAccount, scene: str) -> tuple[Activity, Participant] | None:
    """The activity and inviter a campaign scene names, only within the account's own team
    and only for an activity bound to this account; None (and a log line) otherwise."""
    ids = parse_scene(scene)
    if ids is None:
        log.warning("malformed campaign scene %r on account %s ignored", scene[:80], account.appid)
        return None
    inviter = (Participant.objects.select_related("activity")
               .filter(pk=ids[1], activity_id=ids[0], account=account, activity__team_id=account.team_id,
                       activity__accounts=account).first())
    if inviter is None:
        log.warning("unknown or foreign campaign scene %r on account %s ignored", scene[:80],
                    account.appid)
        return None
    inviter.account = account
    return inviter.activity, inviter


def record_assist(account: OfficialAccount, openid: str, scene: str, *, new_fan: bool,
                  at=None) -> AssistResult:
    """A follow through a poster (SPEC §5.3). ``new_fan``: the fan table had never seen
    this fan before the event. Idempotent: a second call for the same fan counts nothing.

    The event's transaction only records the assist (unique per fan and activity) and
    the fan's own rows; it never locks the inviter. The inviter's count, tiers and
    notices move in :func:`settle`, right after the commit: the assists of a poster that
    goes viral are settled in batches instead of queueing one by one on its row.
    """
    at = at or timezone.now()
    found = resolve_scene(account, scene)
    if found is None:
        return AssistResult(False, "forged")
    activity, inviter = found
    if not activity.is_running(at):
        return AssistResult(False, "not_running", inviter=inviter)
    if inviter.openid == openid:
        return AssistResult(False, "self", inviter=inviter)
    if inviter.blacklisted:
        return AssistResult(False, "inviter_blacklisted", inviter=inviter)
    if Participant.objects.filter(activity=activity, account=account, openid=openid,
                                  blacklisted=True).exists():
        return AssistResult(False, "blacklisted", inviter=inviter)
    if activity.protection and not new_fan:
        existing = Assist.objects.filter(activity=activity, fan_openid=openid).first()
        if existing is not None:
            return _recount(activity, existing, inviter, at)
        return AssistResult(False, "not_new", inviter=inviter)
    assist = Assist(team_id=activity.team_id, activity=activity, inviter=inviter, account=account,
                    fan_openid=openid, created_at=at, counted=True, applied=False)
    if not insert_or_skip(assist, ("activity_id", "fan_openid")):
        # Counted before (or by a concurrent event of the same fan, now committed).
        existing = Assist.objects.filter(activity=activity, fan_openid=openid).first()
        if existing is None:
            return AssistResult(False, "duplicate", inviter=inviter)
        return _recount(activity, existing, inviter, at)
    _link_fan(activity, account, openid, inviter, at)
    _set_fan_source(account, openid, activity)
    _check_fraud(activity, inviter, at)
    settle_after_commit(inviter.pk)
    return AssistResult(True, "counted", assist=assist, inviter=inviter)


def _recount(activity: Activity, assist: Assist, inviter: Participant, at) -> AssistResult:
    """A fan whose assist was deducted follows again through the same inviter's poster:
    without protection the assist counts again; otherwise nothing changes."""
    if activity.protection or assist.counted or assist.inviter_id != inviter.pk:
        return AssistResult(False, "duplicate", inviter=inviter)
    if not Assist.objects.filter(pk=assist.pk, counted=False).update(counted=True, unfollowed_at=None):
        return AssistResult(False, "duplicate", inviter=inviter)
    Participant.objects.filter(activity=activity, account=assist.account_id,
                               openid=assist.fan_openid).update(following=True)
    settle_after_commit(inviter.pk)
    return AssistResult(True, "recounted", assist=assist, inviter=inviter)


def _link_fan(activity: Activity, account: OfficialAccount, openid: str, inviter: Participant,
              at) -> None:
    """The assisting fan becomes a participant (only assisted) one level below the inviter,
    unless someone invited them first. One statement."""
    me = Participant(team_id=activity.team_id, activity=activity, account=account, openid=openid,
                     inviter=inviter, level=inviter.level + 1, created_at=at, following=True)
    upsert(me, ("activity_id", "account_id", "openid"), {
        "following": "TRUE",
        "level": "CASE WHEN campaigns_participant.inviter_id IS NULL "
                 "AND campaigns_participant.id <> EXCLUDED.inviter_id "
                 "THEN EXCLUDED.level ELSE campaigns_participant.level END",
        "inviter_id": "CASE WHEN campaigns_participant.inviter_id IS NULL "
                      "AND campaigns_participant.id <> EXCLUDED.inviter_id "
                      "THEN EXCLUDED.inviter_id ELSE campaigns_participant.inviter_id END",
    })


# --- settling: the inviter's count, tiers and notices ----------------------------------
#: First key of the transaction-scoped advisory lock that serializes settling per inviter.
SETTLE_LOCK = 0x6D62  # "mb"


def settle_after_commit(inviter_id: int) -> None:
    """Settle the inviter once the current transaction commits (at once in autocommit).
    A failure is logged; the periodic :func:`settle_pending` makes up for it."""
    transaction.on_commit(lambda: settle(inviter_id), robust=True)


def settle(inviter_id: int) -> int:
    """Bring the inviter's count in line with their assists; returns the change applied.

    Settling is serialized per inviter by an advisory lock (which writes nothing, so a
    call with nothing left to do costs no WAL flush) and takes every unsettled assist in
    order: +1 for one that counts now, -1 for one that no longer does, each with its tiers
    and notice, as if they had come one by one. A burst of assists on one poster is
    settled by whoever gets the lock next, in one transaction, so the poster's row is
    written once per batch, not once per fan.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [SETTLE_LOCK, inviter_id % 2**31])
        pending = list(Assist.objects.filter(inviter_id=inviter_id).exclude(counted=F("applied"))
                       .order_by("pk").values_list("pk", "counted", "fan_openid", "unfollowed_at"))
        if not pending:
            return 0
        inviter = Participant.objects.select_related("activity", "account").get(pk=inviter_id)
        activity = inviter.activity
        levels = tiers(activity)
        names = dict(Participant.objects.filter(
            activity=activity, account=inviter.account_id, openid__in={p[2] for p in pending})
            .values_list("openid", "nickname"))
        start = inviter.invites
        applied: list[tuple[int, bool]] = []
        for pk, counted, openid, unfollowed_at in pending:
            nickname = names.get(openid) or _("A friend")
            if counted:
                inviter.invites += 1
                _notify_assist(activity, inviter, pk, nickname, levels)
            elif inviter.invites > 0:
                inviter.invites -= 1
                stamp = (unfollowed_at or timezone.now()).timestamp()
                queue_notice(inviter, f"unfollow:{pk}:{stamp:.0f}", fill(
                    activity.unfollow_notice, nickname=nickname, invites=inviter.invites,
                    activity=activity.name))
            applied.append((pk, counted))
        with connection.cursor() as cursor:
            # Exactly the states read above: a change made meanwhile stays unsettled
            # (its own settle call comes after this one, behind the lock).
            cursor.execute(
                "UPDATE campaigns_assist AS a SET applied = v.applied FROM "  # noqa: S608
                f"(VALUES {', '.join(['(%s::bigint, %s::boolean)'] * len(applied))}) AS v(id, applied) "
                "WHERE a.id = v.id", [x for pair in applied for x in pair])
            cursor.execute("UPDATE campaigns_participant SET invites = invites + %s WHERE id = %s",
                           [inviter.invites - start, inviter_id])
        return inviter.invites - start


def settle_pending() -> int:
    """Settle every inviter with unsettled assists (a process died between an event's
    commit and its settle). Returns the number of inviters settled."""
    inviters = list(Assist.objects.exclude(counted=F("applied")).order_by()
                    .values_list("inviter_id", flat=True).distinct()[:10_000])
    for inviter_id in inviters:
        try:
            settle(inviter_id)
        except Exception:  # noqa: BLE001 - one inviter must not stop the others
            log.exception("could not settle inviter %s", inviter_id)
    return len(inviters)


def _notify_assist(activity: Activity, inviter: Participant, assist_pk: int, nickname: str,
                   levels: list[AwardTier]) -> None:
    """One more assist counted: tiers reached (stock taken atomically) and the notices."""
    completed = complete_tiers(activity, inviter, levels)
    upcoming = next_tier(activity, inviter.invites, inviter.tiers_completed, levels)
    text = fill(activity.assist_notice, nickname=nickname, invites=inviter.invites,
                remaining=(upcoming.invites_needed - inviter.invites) if upcoming else 0,
                prize=upcoming.prize if upcoming else "", activity=activity.name,
                keyword=activity.join_keyword)
    if upcoming is None:
        text = fill(_("{nickname} assisted you. You have invited {invites} friends and completed "
                      "every task."), nickname=nickname, invites=inviter.invites)
    queue_notice(inviter, f"assist:{assist_pk}:{inviter.invites}", text)
    for tier, got in completed:
        if got:
            claim = _("Open this link to claim it: %(url)s") % {
                "url": oauth_link(activity, inviter.account)}
            queue_notice(inviter, f"tier:{tier.pk}", fill(
                activity.tier_notice, invites=inviter.invites, level=tier.level, prize=tier.prize,
                claim=claim, activity=activity.name))
        else:
            queue_notice(inviter, f"tier:{tier.pk}", fill(
                activity.out_of_stock_notice, invites=inviter.invites, level=tier.level,
                prize=tier.prize, activity=activity.name))


def complete_tiers(activity: Activity, inviter: Participant,
                   levels: list[AwardTier] | None = None) -> list[tuple[AwardTier, bool]]:
    """Mark the tiers the count reaches; stock is taken atomically (never below zero).
    Returns (tier, prize secured) for each tier completed now."""
    done: list[tuple[AwardTier, bool]] = []
    for tier in levels if levels is not None else tiers(activity):
        if tier.level <= inviter.tiers_completed or inviter.invites < tier.invites_needed:
            continue
        if tier.stock is None:
            secured = True
        else:
            secured = bool(AwardTier.objects.filter(pk=tier.pk, remaining__gt=0)
                           .update(remaining=F("remaining") - 1))
        if secured:
            RewardClaim.objects.get_or_create(tier=tier, participant=inviter,
                                              defaults={"team_id": activity.team_id, "code": new_code()})
        Participant.objects.filter(pk=inviter.pk).update(tiers_completed=tier.level)
        inviter.tiers_completed = tier.level
        done.append((tier, secured))
    return done


def _set_fan_source(account: OfficialAccount, openid: str, activity: Activity) -> None:
    from mediabao.fans.models import Fan

    Fan.objects.filter(account=account, openid=openid).update(
        source=Fan.Source.CAMPAIGN, source_ref=str(activity.pk))


def record_unfollow(account: OfficialAccount, openid: str, at=None) -> int:
    """The fan unfollowed: their participations are marked; with 取关扣除 the assist stops
    counting, and settling (after commit) lowers the inviter's count and tells them.
    Returns the number of assists that stopped counting."""
    at = at or timezone.now()
    Participant.objects.filter(account=account, openid=openid, following=True).update(following=False)
    deducted = 0
    assists = Assist.objects.filter(account=account, fan_openid=openid, unfollowed_at__isnull=True,
                                    activity__team_id=account.team_id).select_related("activity", "inviter")
    for assist in assists:
        activity = assist.activity
        deduct = activity.deduct_on_unfollow and assist.counted and activity.is_running(at)
        changed = Assist.objects.filter(pk=assist.pk, unfollowed_at__isnull=True).update(
            unfollowed_at=at, counted=False if deduct else assist.counted)
        if not changed:
            continue
        if deduct:
            deducted += 1
            settle_after_commit(assist.inviter_id)
        _check_fraud(activity, assist.inviter, at)
    return deducted


# --- anti-fraud ------------------------------------------------------------------------
def _check_fraud(activity: Activity, inviter: Participant, at) -> str:
    """Apply the activity's anti-fraud rules to an inviter; returns the reason tripped.

    One aggregate over the inviter's assists (indexed by inviter), run before the
    inviter's row is locked.
    """
    if not activity.fraud_max_per_minute and activity.fraud_unfollow_percent is None:
        return ""
    window = timedelta(minutes=activity.fraud_unfollow_minutes or 0)
    counts = Assist.objects.filter(inviter=inviter).aggregate(
        recent=Count("pk", filter=Q(created_at__gt=at - timedelta(minutes=1))),
        total=Count("pk"),
        quick=Count("pk", filter=Q(unfollowed_at__isnull=False,
                                   unfollowed_at__lte=F("created_at") + window)))
    reason = ""
    if activity.fraud_max_per_minute and counts["recent"] > activity.fraud_max_per_minute:
        reason = _("%(n)d assists within a minute") % {"n": counts["recent"]}
    total, quick = counts["total"], counts["quick"]
    if (not reason and activity.fraud_unfollow_percent is not None and total >= 5
            and quick * 100 > activity.fraud_unfollow_percent * total):
        reason = _("%(q)d of %(n)d assists unfollowed quickly") % {"q": quick, "n": total}
    if reason and not inviter.flagged and not inviter.blacklisted:
        blacklist = activity.fraud_action == Activity.FraudAction.BLACKLIST
        Participant.objects.filter(pk=inviter.pk).update(flagged=True, flag_reason=reason[:200],
                                                         blacklisted=blacklist or F("blacklisted"))
        inviter.flagged, inviter.blacklisted = True, blacklist or inviter.blacklisted
        log.warning("campaign %s: participant %s tripped anti-fraud (%s)", activity.pk, inviter.pk, reason)
    return reason


def set_blacklisted(participant: Participant, value: bool) -> None:
    Participant.objects.filter(pk=participant.pk).update(blacklisted=value,
                                                         flagged=False if not value else F("flagged"))


# --- notices ---------------------------------------------------------------------------
def queue_notice(participant: Participant, key: str, text: str) -> Notice | None:
    """Record the notice once (by key) and send it from a worker after commit."""
    from mediabao.campaigns import tasks

    notice = Notice(team_id=participant.team_id, participant=participant, key=key[:80], text=text[:600])
    if not insert_or_skip(notice, ("participant_id", "key")):
        return None
    # robust: a broker outage must not turn the committed event into a 500; the notice
    # row waits, and resend_unsent_notices queues it again.
    transaction.on_commit(lambda: tasks.send_notice.delay(notice.pk), robust=True)
    return notice


#: A notice not sent this long after it was recorded is queued again (its task was lost).
NOTICE_RESEND_AFTER = timedelta(minutes=2)


def resend_unsent_notices(now=None) -> int:
    """Queue every notice whose send task never ran (the broker was unreachable when the
    event committed, or the task was lost); delivery claims each notice once, so a notice
    queued twice is still sent once. Returns how many were queued."""
    from mediabao.campaigns import tasks

    now = now or timezone.now()
    ids = list(Notice.objects.filter(sent_at__isnull=True, created_at__lt=now - NOTICE_RESEND_AFTER,
                                     created_at__gt=now - timedelta(days=2))
               .exclude(key__startswith="poster:").order_by("pk").values_list("pk", flat=True)[:5000])
    for notice_id in ids:
        tasks.send_notice.delay(notice_id)
    return len(ids)


def deliver_notice(notice_id: int) -> str:
    """Customer-service text, else the account's notice template; each notice once."""
    from mediabao.messaging.notify import send_notice

    claimed = Notice.objects.filter(pk=notice_id, sent_at__isnull=True).update(sent_at=timezone.now())
    if not claimed:
        return ""
    notice = Notice.objects.select_related("participant__account").get(pk=notice_id)
    participant = notice.participant
    try:
        channel = send_notice(participant.account, participant.openid, notice.text)
    except Exception:
        # send_notice turns every WeChat answer into a channel, so an exception here (Redis
        # or PostgreSQL unreachable, e.g. while the access token is read) means nothing was
        # delivered: give the claim back so that the task's retry sends the notice.
        Notice.objects.filter(pk=notice_id, channel="").update(sent_at=None)
        raise
    Notice.objects.filter(pk=notice_id).update(channel=channel)
    return channel


# --- rewards ---------------------------------------------------------------------------
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a counter


def new_code(length: int = 10) -> str:
    import secrets

    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def save_address(claim: RewardClaim, *, name: str, phone: str, address: str) -> None:
    if claim.shipped:
        raise CampaignError(_("This prize has already been shipped."))
    RewardClaim.objects.filter(pk=claim.pk).update(name=name, phone=phone, address=address)


def mark_shipped(claim: RewardClaim, shipped: bool = True) -> None:
    RewardClaim.objects.filter(pk=claim.pk).update(shipped=shipped,
                                                   shipped_at=timezone.now() if shipped else None)
    audit.record(claim.team, "reward.shipped" if shipped else "reward.unshipped", claim,
                 label=claim.code or f"#{claim.pk}", details={"participant": claim.participant_id})


# --- reads for the H5 page -------------------------------------------------------------
def leaderboard(activity: Activity, limit: int = 10) -> list[Participant]:
    return list(Participant.objects.filter(activity=activity, blacklisted=False, invites__gt=0)
                .order_by("-invites", "id")[:limit])


def rank_of(participant: Participant) -> int | None:
    if participant.blacklisted or participant.invites <= 0:
        return None
    ahead = Participant.objects.filter(activity_id=participant.activity_id, blacklisted=False).filter(
        Q(invites__gt=participant.invites) | Q(invites=participant.invites, id__lt=participant.pk)).count()
    return ahead + 1
