"""Writes for fans: events keep each fan current; syncs page through ``user/get``."""

from __future__ import annotations

import asyncio
import enum
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from mediabao.core.db import upsert_instance, upsert_many
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


def _fan(account: OfficialAccount, openid: str, *, following: bool = True) -> Fan:
    """The fan row, created on first sight; locked for the rest of the transaction.

    A fan first seen through a message, scan or click follows the account (WeChat
    delivers nothing else from non-followers); an unsubscribe flips it right after.
    A fan first seen through web OAuth may not follow (``following=False``).
    """
    fan = Fan.objects.select_for_update().filter(account=account, openid=openid).first()
    if fan is not None:
        return fan
    try:
        with transaction.atomic():
            return Fan.objects.create(team_id=account.team_id, account=account, openid=openid,
                                      subscribed=following)
    except IntegrityError:  # created concurrently by another event of the same fan
        return Fan.objects.select_for_update().get(account=account, openid=openid)


#: ``ctx.extra`` key the subscribe handler sets: had the account seen this fan follow
#: before this event (following, synced, or a follow/unfollow time)? Campaigns and
#: channels read it instead of asking the database again.
FOLLOWED_BEFORE = "fans.followed_before"

_FOLLOWED_BEFORE_SQL = ("subscribed OR subscribe_time IS NOT NULL OR unsubscribe_time IS NOT NULL "
                        "OR sync_generation > 0")


def _upsert(fan: Fan, on_conflict: dict[str, str], *, with_history: bool = False
            ) -> tuple[Fan, bool]:
    """INSERT the fan row ``fan`` describes, or apply ``on_conflict`` to the existing one:
    one round trip, no savepoint; the row stays locked until commit.

    Returns the stored row and, with ``with_history``, whether the fan had followed
    before the statement (read from the statement's snapshot).
    """
    cte, cte_params, extra = "", (), ""
    if with_history:
        cte = ("WITH old AS (SELECT 1 FROM fans_fan WHERE account_id = %s AND openid = %s "  # noqa: S608
               f"AND ({_FOLLOWED_BEFORE_SQL}))")
        cte_params, extra = (fan.account_id, fan.openid), "EXISTS (SELECT 1 FROM old)"
    stored, rest = upsert_instance(fan, ("account_id", "openid"),
                                   {**on_conflict, "updated_at": "EXCLUDED.updated_at"},
                                   cte=cte, cte_params=cte_params, extra_returning=extra)
    return stored, bool(rest[0]) if with_history else True


def _new(account: OfficialAccount, openid: str, **values) -> Fan:
    return Fan(team_id=account.team_id, account_id=account.pk, openid=openid[:64], **values)


_LAST_INTERACTION = "GREATEST(fans_fan.last_interaction_at, EXCLUDED.last_interaction_at)"
_EVENT_WINDOW = {"event_window_until": "EXCLUDED.event_window_until",
                 "event_window_left": "EXCLUDED.event_window_left",
                 "last_interaction_at": _LAST_INTERACTION}


_SUBSCRIBE = {
    "subscribed": "TRUE", "subscribe_time": "EXCLUDED.subscribe_time", "unsubscribe_time": "NULL",
    "subscribe_scene": "CASE WHEN EXCLUDED.qr_scene <> '' THEN EXCLUDED.subscribe_scene "
                       "ELSE fans_fan.subscribe_scene END",
    "qr_scene": "CASE WHEN EXCLUDED.qr_scene <> '' THEN EXCLUDED.qr_scene ELSE fans_fan.qr_scene END",
    **_EVENT_WINDOW,
    "updated_at": "EXCLUDED.updated_at",
}


def _subscribed(account: OfficialAccount, openid: str, at: datetime, qr_scene: str) -> Fan:
    qr_scene = qr_scene[:64]
    return _new(account, openid, subscribed=True, subscribe_time=at, unsubscribe_time=None,
                subscribe_scene="ADD_SCENE_QR_CODE" if qr_scene else "", qr_scene=qr_scene,
                last_interaction_at=at, event_window_until=at + timedelta(seconds=EVENT_WINDOW_SECONDS),
                event_window_left=EVENT_WINDOW_SENDS)


def record_subscribe(account: OfficialAccount, openid: str, at: datetime, qr_scene: str = "",
                     *, history: bool = False) -> Fan | tuple[Fan, bool]:
    """A follow: the fan row is created or reopened and the one-minute window opens.

    With ``history=True`` returns ``(fan, followed_before)`` (see :data:`FOLLOWED_BEFORE`).
    """
    fan, before = _upsert(_subscribed(account, openid, at, qr_scene), _SUBSCRIBE, with_history=history)
    return (fan, before) if history else fan


_MANY_HISTORY = ("WITH old AS (SELECT id FROM fans_fan WHERE (account_id, openid) IN "  # noqa: S608
                 "(SELECT * FROM unnest(%s::bigint[], %s::varchar[])) "
                 f"AND ({_FOLLOWED_BEFORE_SQL}))")


def record_subscribes(follows: list[tuple[OfficialAccount, str, datetime, str]]) -> list[bool]:
    """Many follows of distinct fans, ``(account, openid, at, qr_scene)`` each, in one
    statement (the event processor's batches): for each, in the same order, whether the
    fan had followed before (what :func:`record_subscribe` with ``history=True`` says)."""
    rows = [_subscribed(account, openid[:64], at, qr_scene) for account, openid, at, qr_scene in follows]
    stored = upsert_many(rows, ("account_id", "openid"), _SUBSCRIBE, returning=("account_id", "openid"),
                         cte=_MANY_HISTORY,
                         cte_params=([r.account_id for r in rows], [r.openid for r in rows]),
                         extra_returning="fans_fan.id IN (SELECT id FROM old)")
    before = {(account_id, openid): bool(old) for _pk, account_id, openid, old in stored}
    return [before[(r.account_id, r.openid)] for r in rows]


def record_unsubscribe(account: OfficialAccount, openid: str, at: datetime) -> Fan:
    """An unfollow closes every window (WeChat refuses sends to non-followers: 43004)."""
    fan = _new(account, openid, subscribed=False, unsubscribe_time=at)
    return _upsert(fan, {"subscribed": "FALSE", "unsubscribe_time": "EXCLUDED.unsubscribe_time",
                         "message_window_left": "0", "event_window_left": "0"})[0]


def record_interaction(account: OfficialAccount, openid: str, at: datetime, *, message: bool) -> Fan:
    """A message opens the 48-hour window; a scan or menu click the one-minute one.

    A fan first seen this way follows the account (WeChat pushes nothing else from
    non-followers).
    """
    if message:
        fan = _new(account, openid, last_interaction_at=at,
                   message_window_until=at + timedelta(seconds=MESSAGE_WINDOW_SECONDS),
                   message_window_left=MESSAGE_WINDOW_SENDS)
        changes = {"message_window_until": "EXCLUDED.message_window_until",
                   "message_window_left": "EXCLUDED.message_window_left",
                   "last_interaction_at": _LAST_INTERACTION}
    else:
        fan = _new(account, openid, last_interaction_at=at,
                   event_window_until=at + timedelta(seconds=EVENT_WINDOW_SECONDS),
                   event_window_left=EVENT_WINDOW_SENDS)
        changes = _EVENT_WINDOW
    return _upsert(fan, changes)[0]


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
        fan = _fan(account, openid, following=False)  # opening a page is not following
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


#: Columns of a synced page that WeChat owns: copied into a temp table, then upserted.
_PAGE_COLUMNS = ("openid", "unionid", "subscribe_time", "subscribe_scene", "qr_scene", "remark", "tags")
_SYNC_UPDATES = ("subscribed", "unionid", "subscribe_time", "subscribe_scene", "qr_scene", "remark",
                 "tags", "sync_generation", "updated_at")
BATCHGET_CONCURRENCY = 16


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": ""})
_MAX_EPOCH = 253402300799  # 9999-12-31


def _copy_text(value: object, limit: int) -> str:
    return str(value or "")[:limit].translate(_COPY_ESCAPES)


def _copy_epoch(value: object) -> str:
    """subscribe_time as Unix seconds (NULL when absent; now when unreadable, as wechat_time)."""
    if not value:
        return "\\N"
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        seconds = -1
    return str(seconds if 0 <= seconds <= _MAX_EPOCH else int(timezone.now().timestamp()))


def _copy_payload(openids: list[str], infos: dict[str, dict]) -> bytes:
    """A page in COPY text format (columns as :data:`_PAGE_COLUMNS`); built on the fetch
    thread so that the writing thread only streams it."""
    lines = []
    for openid in openids:
        info = infos.get(openid) or {}
        tags = ",".join(str(int(t)) for t in info.get("tagid_list") or [] if str(t).isdigit())
        lines.append("\t".join((
            _copy_text(openid, 64), _copy_text(info.get("unionid"), 64),
            _copy_epoch(info.get("subscribe_time")), _copy_text(info.get("subscribe_scene"), 40),
            _copy_text(info.get("qr_scene_str") or info.get("qr_scene"), 64),
            _copy_text(info.get("remark"), 100), "{" + tags + "}",
        )))
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _save_page(sync: FanSync, payload: bytes) -> None:
    """Upsert one page: COPY it into a session temp table, then one INSERT … SELECT …
    ON CONFLICT that inserts new fans and refreshes the WeChat-owned fields of known ones
    (nickname, avatar, source and windows are ours and stay). Run inside the page's
    transaction, which also saves the cursor."""
    now = timezone.now()
    quote = connection.ops.quote_name
    fields = {f.column: f for f in Fan._meta.concrete_fields if not f.primary_key}
    fixed = {"team_id": sync.team_id, "account_id": sync.account_id, "subscribed": True,
             "sync_generation": sync.generation, "created_at": now, "updated_at": now}
    select, params = [], []
    for column, field in fields.items():
        if column == "subscribe_time":
            select.append(f"to_timestamp(p.{quote(column)})")
        elif column in _PAGE_COLUMNS:
            select.append(f"p.{quote(column)}")
        else:
            value = fixed[column] if column in fixed else field.get_default()
            if isinstance(value, enum.Enum):
                value = value.value
            select.append(f"%s::{field.db_type(connection)}")
            params.append(field.get_db_prep_save(value, connection))
    temp = quote("fan_sync_page")
    temp_columns = ", ".join(
        f"{quote(c)} {'bigint' if c == 'subscribe_time' else fields[c].db_type(connection)}"
        for c in _PAGE_COLUMNS)
    columns = ", ".join(quote(c) for c in fields)
    updates = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in _SYNC_UPDATES)
    with connection.cursor() as cursor:
        # The page and its cursor commit together, so losing this commit in a crash only
        # makes a resumed sync fetch the page again: no need to wait for the WAL flush.
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {temp} ({temp_columns})")
        cursor.execute(f"TRUNCATE {temp}")
        copy_sql = f"COPY {temp} ({', '.join(quote(c) for c in _PAGE_COLUMNS)}) FROM STDIN"
        with cursor.cursor.copy(copy_sql) as copy:
            copy.write(payload)
        # Identifiers come from the model and are quoted; every value is a bound parameter.
        cursor.execute(
            f"INSERT INTO {quote(Fan._meta.db_table)} ({columns}) "  # noqa: S608
            f"SELECT DISTINCT ON (p.{quote('openid')}) {', '.join(select)} FROM {temp} p "
            f"ON CONFLICT ({quote('account_id')}, {quote('openid')}) DO UPDATE SET {updates}",
            params)


async def _fetch_profiles(account: OfficialAccount, openids: list[str]) -> dict[str, dict]:
    """user/info/batchget for a page, BATCHGET_CONCURRENCY calls in flight; the first
    error cancels the rest and is raised."""
    from mediabao.wechat.client import AsyncWeChatClient

    infos: dict[str, dict] = {}
    sem = asyncio.Semaphore(BATCHGET_CONCURRENCY)
    async with AsyncWeChatClient(account) as client:

        async def one(batch: list[str]) -> None:
            async with sem:
                result = await client.post(
                    "cgi-bin/user/info/batchget",
                    {"user_list": [{"openid": o, "lang": "zh_CN"} for o in batch]})
            for info in result.get("user_info_list") or []:
                if info.get("openid"):
                    infos[info["openid"]] = info

        tasks = [asyncio.ensure_future(one(openids[i:i + BATCHGET_SIZE]))
                 for i in range(0, len(openids), BATCHGET_SIZE)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
    return infos


def run_sync(sync_id: int, client=None) -> FanSync:
    """Page through user/get from the saved cursor, profiles in batches of 100 (concurrently,
    see :func:`_fetch_profiles`); resumable. A helper thread fetches the next page while
    this one writes the current one; the cursor is saved with each written page, so a
    resumed sync starts after the last page stored. ``client`` (tests) makes the user/get calls.
    """
    from mediabao.wechat.client import WeChatClient

    sync = FanSync.objects.select_related("account").get(pk=sync_id)
    if sync.state in (FanSync.State.DONE, FanSync.State.FAILED):
        return sync
    client = client or WeChatClient(sync.account)
    FanSync.objects.filter(pk=sync.pk).update(state=FanSync.State.RUNNING)

    def fetch(cursor: str) -> tuple[dict, list[str], int, bytes]:
        """One page, its profiles and its COPY rows (no database access on this thread)."""
        page = client.get("cgi-bin/user/get", next_openid=cursor)
        openids = (page.get("data") or {}).get("openid") or []
        infos = asyncio.run(_fetch_profiles(sync.account, openids)) if openids else {}
        return page, openids, len(infos), _copy_payload(openids, infos)

    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fan-sync-fetch") as pool:
            ahead = pool.submit(fetch, sync.next_openid or "")
            while True:
                page, openids, profiles, payload = ahead.result()
                if not openids:
                    break
                last = len(openids) < USER_GET_PAGE or not page.get("next_openid")
                if not last:
                    ahead = pool.submit(fetch, page["next_openid"])
                with transaction.atomic():
                    _save_page(sync, payload)
                    sync.next_openid = page.get("next_openid") or openids[-1]
                    sync.fetched += len(openids)
                    sync.profiles += profiles
                    sync.total = page.get("total", sync.total)
                    sync.save(update_fields=["next_openid", "fetched", "profiles", "total"])
                if last:
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
