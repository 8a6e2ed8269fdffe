"""Writes for fans: events keep each fan current; syncs page through ``user/get``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from mediabao.fans.models import (
    EVENT_WINDOW_SECONDS,
    EVENT_WINDOW_SENDS,
    MESSAGE_WINDOW_SECONDS,
    MESSAGE_WINDOW_SENDS,
    Fan,
    FanSync,
)
from mediabao.wechat.models import OfficialAccount

log = logging.getLogger(__name__)

USER_GET_PAGE = 10_000  # WECHAT.md §1.3
BATCHGET_SIZE = 100


def wechat_time(seconds: int | str | None) -> datetime:
    """WeChat's CreateTime (Unix seconds) as an aware datetime; now when absent."""
    try:
        return datetime.fromtimestamp(int(seconds), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return timezone.now()


def _fan(account: OfficialAccount, openid: str) -> Fan:
    """The fan row, created on first sight; locked for the rest of the transaction.

    A fan first seen through a message, scan or click follows the account (WeChat
    delivers nothing else from non-followers); an unsubscribe flips it right after.
    """
    fan = Fan.objects.select_for_update().filter(account=account, openid=openid).first()
    if fan is not None:
        return fan
    try:
        with transaction.atomic():
            return Fan.objects.create(team_id=account.team_id, account=account, openid=openid,
                                      subscribed=True)
    except IntegrityError:  # created concurrently by another event of the same fan
        return Fan.objects.select_for_update().get(account=account, openid=openid)


@transaction.atomic
def record_subscribe(account: OfficialAccount, openid: str, at: datetime, qr_scene: str = "") -> Fan:
    fan = _fan(account, openid)
    fan.subscribed = True
    fan.subscribe_time = at
    fan.unsubscribe_time = None
    fan.subscribe_scene = "ADD_SCENE_QR_CODE" if qr_scene else fan.subscribe_scene
    if qr_scene:
        fan.qr_scene = qr_scene[:64]
    _open_event_window(fan, at)
    fan.save()
    return fan


@transaction.atomic
def record_unsubscribe(account: OfficialAccount, openid: str, at: datetime) -> Fan:
    fan = _fan(account, openid)
    fan.subscribed = False
    fan.unsubscribe_time = at
    fan.message_window_left = fan.event_window_left = 0
    fan.save()
    return fan


@transaction.atomic
def record_interaction(account: OfficialAccount, openid: str, at: datetime, *, message: bool) -> Fan:
    """A message opens the 48-hour window; a scan or menu click the one-minute one."""
    fan = _fan(account, openid)
    if message:
        fan.message_window_until = at + timedelta(seconds=MESSAGE_WINDOW_SECONDS)
        fan.message_window_left = MESSAGE_WINDOW_SENDS
    else:
        _open_event_window(fan, at)
    fan.save()
    return fan


def _open_event_window(fan: Fan, at: datetime) -> None:
    fan.event_window_until = at + timedelta(seconds=EVENT_WINDOW_SECONDS)
    fan.event_window_left = EVENT_WINDOW_SENDS
    fan.last_interaction_at = max(filter(None, [fan.last_interaction_at, at]))


def _touch(fan: Fan, at: datetime) -> None:
    fan.last_interaction_at = max(filter(None, [fan.last_interaction_at, at]))


def consume_window(fan_id: int, now: datetime | None = None) -> bool:
    """Use one customer-service send of the fan, as WeChat does: from the live grant that
    expires first. False when no grant is live or all are used up (45015/45047)."""
    now = now or timezone.now()
    with transaction.atomic():
        fan = Fan.objects.select_for_update().get(pk=fan_id)
        grants = [(fan.event_window_until, "event"), (fan.message_window_until, "message")]
        for _until, kind in sorted((g for g in grants if g[0] and g[0] > now), key=lambda g: g[0]):
            field = f"{kind}_window_left"
            if getattr(fan, field) > 0:
                setattr(fan, field, getattr(fan, field) - 1)
                fan.save(update_fields=[field])
                return True
    return False


def set_profile(account: OfficialAccount, openid: str, *, nickname: str = "", avatar_url: str = "",
                unionid: str = "") -> Fan:
    """Nickname and avatar as web OAuth reports them (the only source since 2021-12-27)."""
    with transaction.atomic():
        fan = _fan(account, openid)
        fan.nickname = nickname[:100] or fan.nickname
        fan.avatar_url = avatar_url[:500] or fan.avatar_url
        fan.unionid = unionid[:64] or fan.unionid
        fan.save()
        return fan


# --- follower sync ---------------------------------------------------------------------
def start_sync(account: OfficialAccount) -> tuple[FanSync, bool]:
    """Create a sync for the account, or return the one already running (created=False).

    A sync that failed half-way is resumed from its cursor rather than started over.
    """
    active = FanSync.objects.filter(account=account, state__in=[FanSync.State.QUEUED,
                                                                 FanSync.State.RUNNING]).first()
    if active:
        return active, False
    last = FanSync.objects.filter(account=account).order_by("-started_at").first()
    if last is not None and last.state == FanSync.State.FAILED:
        last.state, last.error, last.finished_at = FanSync.State.QUEUED, "", None
        last.save(update_fields=["state", "error", "finished_at"])
        return last, True
    generation = (FanSync.objects.filter(account=account).aggregate(g=Max("generation"))["g"] or 0) + 1
    try:
        with transaction.atomic():
            return FanSync.objects.create(team_id=account.team_id, account=account,
                                          generation=generation), True
    except IntegrityError:
        return FanSync.objects.get(account=account, state__in=["queued", "running"]), False


def _save_page(sync: FanSync, openids: list[str], infos: dict[str, dict]) -> None:
    now = timezone.now()
    rows = []
    for openid in openids:
        info = infos.get(openid, {})
        subscribe_time = info.get("subscribe_time")
        rows.append(Fan(
            team_id=sync.team_id, account_id=sync.account_id, openid=openid, subscribed=True,
            unionid=(info.get("unionid") or "")[:64],
            subscribe_time=wechat_time(subscribe_time) if subscribe_time else None,
            subscribe_scene=(info.get("subscribe_scene") or "")[:40],
            qr_scene=str(info.get("qr_scene_str") or info.get("qr_scene") or "")[:64],
            remark=(info.get("remark") or "")[:100],
            tags=[int(t) for t in info.get("tagid_list") or [] if str(t).isdigit()],
            sync_generation=sync.generation, created_at=now,
        ))
    # One statement per page: insert new fans, refresh the WeChat-owned fields of known ones
    # (nickname, avatar, source and windows are ours and stay).
    Fan.objects.bulk_create(
        rows, batch_size=2000, update_conflicts=True, unique_fields=["account", "openid"],
        update_fields=["subscribed", "unionid", "subscribe_time", "subscribe_scene", "qr_scene",
                       "remark", "tags", "sync_generation", "updated_at"],
    )


def run_sync(sync_id: int, client=None) -> FanSync:
    """Page through user/get from the saved cursor, profiles in batches of 100; resumable."""
    from mediabao.wechat.client import WeChatClient

    sync = FanSync.objects.select_related("account").get(pk=sync_id)
    if sync.state in (FanSync.State.DONE, FanSync.State.FAILED):
        return sync
    client = client or WeChatClient(sync.account)
    FanSync.objects.filter(pk=sync.pk).update(state=FanSync.State.RUNNING)
    try:
        while True:
            page = client.get("cgi-bin/user/get", next_openid=sync.next_openid or "")
            openids = (page.get("data") or {}).get("openid") or []
            if not openids:
                break
            infos: dict[str, dict] = {}
            for start in range(0, len(openids), BATCHGET_SIZE):
                batch = openids[start:start + BATCHGET_SIZE]
                result = client.post("cgi-bin/user/info/batchget",
                                     {"user_list": [{"openid": o, "lang": "zh_CN"} for o in batch]})
                for info in result.get("user_info_list") or []:
                    if info.get("openid"):
                        infos[info["openid"]] = info
            with transaction.atomic():
                _save_page(sync, openids, infos)
                sync.next_openid = page.get("next_openid") or openids[-1]
                sync.fetched += len(openids)
                sync.profiles += len(infos)
                sync.total = page.get("total", sync.total)
                sync.save(update_fields=["next_openid", "fetched", "profiles", "total"])
            if len(openids) < USER_GET_PAGE or not page.get("next_openid"):
                break
        with transaction.atomic():
            # Fans that the complete list no longer has have unfollowed.
            # (A fan an event touched since the sync started is current already.)
            Fan.objects.filter(account_id=sync.account_id, subscribed=True,
                               sync_generation__lt=sync.generation,
                               updated_at__lt=sync.started_at).update(
                subscribed=False, unsubscribe_time=timezone.now())
            sync.state = FanSync.State.DONE
            sync.finished_at = timezone.now()
            sync.save(update_fields=["state", "finished_at"])
    except Exception as exc:
        log.exception("fan sync %s failed", sync.pk)
        sync.state = FanSync.State.FAILED
        sync.error = str(exc)[:300]
        sync.finished_at = timezone.now()
        sync.save(update_fields=["state", "error", "finished_at"])
    return sync
