"""Writes for channels: creating the permanent code, edits, archiving, attribution."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mediabao.audit import services as audit
from mediabao.channels.models import SCENE_PREFIX, Channel, ChannelFollow, ChannelScan, permanent_qr_cap
from mediabao.wechat.client import WeChatClient
from mediabao.wechat.errors import WeChatError
from mediabao.wechat.models import OfficialAccount

log = logging.getLogger(__name__)

_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o/1/l: scenes get read aloud on support calls
SCENE_ID_LENGTH = 10


class ChannelError(Exception):
    """A channel cannot be created; ``message`` is for the operator (translated)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BudgetExhausted(ChannelError):
    """The account has used all its permanent QR codes."""


def new_scene() -> str:
    """``ch_`` + 10 random characters: 32^10 ≈ 10^15 values, well inside WeChat's 64."""
    return SCENE_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(SCENE_ID_LENGTH))


def permanent_codes_used(account: OfficialAccount) -> int:
    """Our permanent codes of the account; archived channels keep theirs (WeChat never frees one)."""
    return Channel.objects.filter(account=account).count()


def budget(account: OfficialAccount) -> dict[str, int]:
    cap = permanent_qr_cap()
    used = permanent_codes_used(account)
    return {"used": used, "cap": cap, "remaining": max(0, cap - used)}


def _is_quota_error(exc: WeChatError) -> bool:
    # WECHAT.md §1.6: 40053 is said to be what an account past 100,000 codes gets; our
    # scene is always valid, so a 40053 here means the quota.
    return exc.errcode == 40053


def create_channel(*, account: OfficialAccount, name: str, note: str = "", user: Any = None) -> Channel:
    """Create the permanent code at WeChat and the channel row, within the account's budget.

    The account row is locked for the duration so two operators creating codes at once
    cannot both take the last one; the WeChat call happens inside the transaction so a
    refused code leaves no row. WeChat answers the same permanent scene with the same
    ticket, so a retry after a lost response costs no extra code.
    """
    with transaction.atomic():
        OfficialAccount.objects.select_for_update().filter(pk=account.pk).first()
        if permanent_codes_used(account) >= permanent_qr_cap():
            raise BudgetExhausted(_("%(account)s has used all of its %(cap)s permanent QR codes; "
                                    "no new promo code can be created for it.")
                                  % {"account": account.name, "cap": f"{permanent_qr_cap():,}"},
                                  field="account")
        scene = new_scene()
        while Channel.objects.filter(account=account, scene_str=scene).exists():
            scene = new_scene()
        try:
            result = WeChatClient(account).post("cgi-bin/qrcode/create", {
                "action_name": "QR_LIMIT_STR_SCENE",
                "action_info": {"scene": {"scene_str": scene}},
            })
        except WeChatError as exc:
            log.warning("qrcode/create failed for %s: %s", account.appid, exc)
            if _is_quota_error(exc):
                raise BudgetExhausted(_("WeChat refused a new permanent QR code for %(account)s: "
                                        "its permanent codes are used up.")
                                      % {"account": account.name}, field="account") from exc
            raise ChannelError(_("WeChat could not create the QR code: %(reason)s")
                               % {"reason": exc.meaning}) from exc
        ticket, url = str(result.get("ticket", "")), str(result.get("url", ""))
        if not ticket or not url:
            raise ChannelError(_("WeChat answered without a QR code. Please try again."))
        channel = Channel.objects.create(
            team_id=account.team_id, account=account, name=name.strip(), note=note.strip(), scene_str=scene,
            ticket=ticket[:255], url=url[:255], created_by=user if getattr(user, "pk", None) else None)
        audit.record(account.team, "channel.created", channel, details={"account": account.name})
        return channel


def update_channel(channel: Channel, *, name: str | None = None, note: str | None = None) -> Channel:
    """Name and note only: the account and scene are printed into the code."""
    fields = []
    if name is not None:
        channel.name = name.strip()
        fields.append("name")
    if note is not None:
        channel.note = note.strip()
        fields.append("note")
    if fields:
        channel.save(update_fields=fields)
    return channel


def set_archived(channel: Channel, archived: bool) -> Channel:
    """Archiving hides a channel; its printed code still works and still attributes follows."""
    if channel.archived != archived:
        channel.archived = archived
        channel.save(update_fields=["archived"])
        audit.record(channel.team, "channel.archived" if archived else "channel.restored", channel)
    return channel


# --- attribution (called by wechat_handlers inside the callback's transaction) ---------
def local_day(at: datetime):
    return timezone.localtime(at).date()


def channel_for_scene(account: OfficialAccount, scene: str) -> Channel | None:
    if not scene.startswith(SCENE_PREFIX) or len(scene) > 64:
        return None
    return Channel.objects.filter(account=account, scene_str=scene).first()


def _close_open_follows(account: OfficialAccount, openid: str, at: datetime,
                        exclude_pk: int | None = None) -> int:
    """Mark the fan's open follows unfollowed at ``at`` (only those that began before it)."""
    qs = ChannelFollow.objects.filter(account=account, openid=openid, unfollowed_at__isnull=True,
                                      followed_at__lte=at)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.update(unfollowed_at=at, unfollow_day=local_day(at))


def close_open_follows_of(fans: list[tuple[OfficialAccount, str, datetime]]) -> int:
    """:func:`_close_open_follows` for many distinct fans, ``(account, openid, at)`` each, in
    one statement (the event processor's batches of unfollows and plain follows)."""
    if not fans:
        return 0
    table = ChannelFollow._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS f SET unfollowed_at = u.at, unfollow_day = u.day "  # noqa: S608
            "FROM unnest(%s::bigint[], %s::varchar[], %s::timestamptz[], %s::date[]) "
            "AS u(account_id, openid, at, day) "
            "WHERE f.account_id = u.account_id AND f.openid = u.openid "
            "AND f.unfollowed_at IS NULL AND f.followed_at <= u.at",
            [[a.pk for a, _, _ in fans], [o for _, o, _ in fans], [t for _, _, t in fans],
             [local_day(t) for _, _, t in fans]])
        return cursor.rowcount


def record_follow(channel: Channel, openid: str, at: datetime) -> ChannelFollow | None:
    """A new follow through ``channel``: the day's row, created or reopened; the fan's source.

    Idempotent: the same event again finds the same row and changes nothing. An event
    older than the row's unfollow (a late retry) does not reopen it.
    """
    day = local_day(at)
    row = ChannelFollow.objects.select_for_update().filter(channel=channel, openid=openid,
                                                           follow_day=day).first()
    if row is None:
        try:
            with transaction.atomic():
                row = ChannelFollow.objects.create(team_id=channel.team_id, channel=channel,
                                                   account_id=channel.account_id, openid=openid,
                                                   follow_day=day, followed_at=at)
        except IntegrityError:  # the same fan's event handled concurrently
            row = ChannelFollow.objects.select_for_update().get(channel=channel, openid=openid,
                                                                follow_day=day)
    elif row.unfollowed_at is not None:
        if row.unfollowed_at > at:
            log.info("late subscribe of %s through channel %s ignored", openid, channel.pk)
            return None
        row.unfollowed_at = row.unfollow_day = None
        row.save(update_fields=["unfollowed_at", "unfollow_day"])
    # A fan can only subscribe while not following: any other open row missed its unsubscribe.
    _close_open_follows(channel.account, openid, at, exclude_pk=row.pk)
    _set_fan_source(channel, openid)
    return row


def _set_fan_source(channel: Channel, openid: str) -> None:
    from mediabao.fans.models import Fan

    updated = Fan.objects.filter(account_id=channel.account_id, openid=openid).update(
        source=Fan.Source.CHANNEL, source_ref=str(channel.pk))
    if not updated:
        log.warning("fan %s of account %s not found to attribute to channel %s",
                    openid, channel.account_id, channel.pk)


def record_unfollow(account: OfficialAccount, openid: str, at: datetime) -> int:
    return _close_open_follows(account, openid, at)


def record_plain_follow(account: OfficialAccount, openid: str, at: datetime) -> int:
    """A follow not through a channel: any open channel row of the fan missed its unsubscribe."""
    return _close_open_follows(account, openid, at)


def record_scan(channel: Channel, openid: str, at: datetime) -> None:
    ChannelScan.objects.bulk_create(
        [ChannelScan(team_id=channel.team_id, channel=channel, openid=openid, scan_day=local_day(at),
                     scanned_at=at)],
        ignore_conflicts=True,
    )


def reconcile_unfollows(account_id: int) -> int:
    """Close the open rows of fans the fan table knows to have unfollowed.

    WeChat's ``unsubscribe`` push can be lost (the platform down for longer than
    WeChat's retries); the next follower sync then marks those fans unfollowed. This
    brings the channel rows in line, dated at the fan's recorded unfollow time.
    """
    from django.db.models import OuterRef, Subquery

    from mediabao.fans.models import Fan

    gone = Fan.objects.filter(account_id=account_id, openid=OuterRef("openid"), subscribed=False)
    rows = list(ChannelFollow.objects.filter(account_id=account_id, unfollowed_at__isnull=True)
                .annotate(gone_at=Subquery(gone.values("unsubscribe_time")[:1]),
                          is_gone=Subquery(gone.values("pk")[:1]))
                .filter(is_gone__isnull=False))
    now = timezone.now()
    for row in rows:
        row.unfollowed_at = max(row.gone_at or now, row.followed_at)
        row.unfollow_day = local_day(row.unfollowed_at)
    ChannelFollow.objects.bulk_update(rows, ["unfollowed_at", "unfollow_day"], batch_size=1000)
    if rows:
        log.info("closed %d channel follows of account %s after a follower sync", len(rows), account_id)
    return len(rows)


def on_fan_sync_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A finished follower sync may have found unfollows whose pushes were lost."""
    if instance.state == "done":
        account_id = instance.account_id
        transaction.on_commit(lambda: reconcile_unfollows(account_id))
