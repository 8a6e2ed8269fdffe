"""Inbound callbacks of one account: verify, decrypt, parse, dedup, store, dispatch, reply.

The view (:func:`mediabao.wechat.views.callback`) only maps HTTP to these functions and
:class:`Rejected` to a status code; everything here is plain functions over the
account, the query and the body, so tests and the benchmark can call it directly.

Two paths (see ``wechat.processing``): an event that no handler may answer is stored
pending and answered at once, its handlers run moments later; the others run inline.

Dedup: WeChat retries a push three times when it gets no answer within 5 s, with the
same body (so the same MsgId / CreateTime). The unique ``(account, dedup_key)``
constraint of :class:`~mediabao.wechat.models.Event` is the authority, so an event is
stored and handled once. Inline events also take a Redis key (``SET NX``, lives
:data:`DEDUP_TTL` seconds) that holds the reply: a retry of a push whose processing
succeeded gets the same passive reply again, so the fan still gets an answer when only
our first response was slow.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mediabao.core.db import insert_or_skip
from mediabao.wechat import crypto, intake, kv, processing
from mediabao.wechat.messages import InvalidXML, Reply, parse_xml
from mediabao.wechat.models import Event, OfficialAccount
from mediabao.wechat.registry import EventContext, HandlerFailed, registry

log = logging.getLogger(__name__)

#: WeChat's three retries at a 5 s timeout span ~15-20 s; 300 s leaves a wide margin for
#: a backlogged ingress. Keys include CreateTime (or the unique MsgId), so a longer TTL
#: never merges two real events; it costs one small key per event.
DEDUP_TTL = 300
#: Real pushes are a few KiB (compat mode ~3x plain); anything near this is not WeChat.
MAX_BODY_BYTES = 256 * 1024
LAST_EVENT_RESOLUTION = timedelta(seconds=30)


class Rejected(Exception):
    """The request is refused with ``status``; nothing was stored."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def max_body_bytes() -> int:
    return int(getattr(settings, "WECHAT_CALLBACK_MAX_BYTES", MAX_BODY_BYTES))


def callback_keys(account: OfficialAccount) -> tuple[str, str, str]:
    """(Token, EncodingAESKey, appid in the ciphertext trailer) that sign this account's pushes.

    Developer mode: the account's own. Authorized to our third-party platform: WeChat
    signs and encrypts with the platform's token and key, and the trailer carries the
    component appid (WECHAT.md §1.10).
    """
    if account.auth_mode == OfficialAccount.AuthMode.COMPONENT:
        from mediabao.wechat import component

        try:
            cfg = component.config()
        except component.ComponentNotConfigured as exc:
            raise Rejected(403, "the third-party platform is not configured") from exc
        return cfg.token, cfg.aes_key, cfg.appid
    return account.callback_token or "", account.encoding_aes_key or "", account.appid


def _token(account: OfficialAccount) -> str:
    token = callback_keys(account)[0]
    if not token:
        raise Rejected(403, "the account has no callback token")
    return token


def _check_url_signature(account: OfficialAccount, query: Any) -> None:
    try:
        crypto.check_signature(_token(account), query.get("signature", ""),
                               query.get("timestamp", ""), query.get("nonce", ""))
    except crypto.InvalidSignature as exc:
        raise Rejected(403, "bad signature") from exc


def verify_url(account: OfficialAccount, query: Any) -> str:
    """GET verification: the ``echostr`` back when the signature checks out."""
    _check_url_signature(account, query)
    return query.get("echostr", "")


def message_crypto(account: OfficialAccount) -> crypto.MessageCrypto:
    token, aes_key, trailer_appid = callback_keys(account)
    if not token:
        raise Rejected(403, "the account has no callback token")
    try:
        return crypto.MessageCrypto(token, aes_key, trailer_appid)
    except crypto.CryptoError as exc:
        raise Rejected(403, "the account has no valid EncodingAESKey") from exc


def handle_post(account: OfficialAccount, query: Any, body: bytes) -> str:
    """A pushed message or event → the response body (reply XML or ``success``)."""
    if len(body) > max_body_bytes():
        raise Rejected(400, "body too large")
    _check_url_signature(account, query)
    try:
        outer = parse_xml(body)
    except InvalidXML as exc:
        raise Rejected(400, f"invalid XML: {exc}") from exc
    encrypted = query.get("encrypt_type", "").lower() == "aes"
    mc = None
    if encrypted:
        mc = message_crypto(account)
        ciphertext = outer.get("Encrypt")
        if not isinstance(ciphertext, str) or not ciphertext:
            raise Rejected(400, "no Encrypt element")
        try:
            plain = mc.decrypt_message(query.get("msg_signature", ""), query.get("timestamp", ""),
                                       query.get("nonce", ""), ciphertext)
        except (crypto.InvalidSignature, crypto.InvalidAppId) as exc:
            raise Rejected(403, str(exc)) from exc
        except crypto.CryptoError as exc:
            raise Rejected(400, f"cannot decrypt: {exc}") from exc
        try:
            message = parse_xml(plain)
        except InvalidXML as exc:
            raise Rejected(400, f"invalid inner XML: {exc}") from exc
    else:
        message = outer
    for required in ("FromUserName", "MsgType", "CreateTime"):
        if not isinstance(message.get(required), str) or not message[required]:
            raise Rejected(400, f"missing {required}")
    reply_xml = ingest(account, message)
    if reply_xml is None:
        return "success"
    return mc.encrypt_reply(reply_xml) if mc is not None else reply_xml


def event_kind(message: dict[str, Any]) -> str:
    msg_type = str(message.get("MsgType", ""))
    if msg_type == "event":
        return str(message.get("Event", "")).lower()
    return msg_type.lower()


def dedup_key(message: dict[str, Any]) -> str:
    """MsgId for messages; FromUserName + CreateTime + Event for events (WECHAT.md §4)."""
    msg_id = message.get("MsgId")
    if isinstance(msg_id, str) and msg_id:
        return f"m:{msg_id}"[:160]
    return f"e:{message.get('FromUserName', '')}:{message.get('CreateTime', '')}:" \
           f"{message.get('Event', '')}"[:160]


def scene_of(kind: str, event_key: str) -> str:
    if kind == "subscribe":
        return event_key.removeprefix("qrscene_") if event_key.startswith("qrscene_") else ""
    return event_key if kind == "scan" else ""


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


PENDING, DONE, REPLIED = "P", "S", "R"


def duplicate_wait_seconds() -> float:
    """How long a retry waits for the first delivery's reply (well inside WeChat's 5 s)."""
    return float(getattr(settings, "WECHAT_DUPLICATE_WAIT_SECONDS", 2.5))


def _answer_of_first_delivery(rkey: str) -> str | None:
    """A retry arrived: wait (bounded) for the first delivery and give the same answer."""
    deadline = time.monotonic() + duplicate_wait_seconds()
    client = kv.client()
    while True:
        state = client.get(rkey) or ""
        if state.startswith(REPLIED):
            return state[1:]
        if state != PENDING or time.monotonic() >= deadline:
            return None  # done without reply, released, expired, or still busy: "success"
        time.sleep(0.05)


def ingest(account: OfficialAccount, message: dict[str, Any]) -> str | None:
    """Store the event once, run its handlers, return the passive reply XML (or None).

    An event that no handler may answer is only stored here, pending, and handled
    moments later by ``wechat.processing`` (one INSERT before ``success``; its unique
    key dedups retries). The others run inline: the dedup key in Redis holds the
    delivery's state (pending, done, or done with this reply); a retry of a delivery
    that is still being processed waits briefly for it, so the fan gets the reply even
    when only our first answer was too slow for WeChat.
    """
    key = dedup_key(message)
    ctx = _context(account, message, key)
    may_reply = registry.may_reply(ctx)
    if not may_reply:
        return _store_pending(ctx)
    rkey = kv.key("dedup", account.appid, key)
    redis_ok, touch = True, True
    try:
        # One round trip: claim the delivery, and see whether last_event_at is due.
        pipe = kv.client().pipeline(transaction=False)
        pipe.set(rkey, PENDING, nx=True, ex=DEDUP_TTL)
        pipe.set(kv.key("last-event", account.appid), "1", nx=True,
                 ex=int(LAST_EVENT_RESOLUTION.total_seconds()))
        first, touch = pipe.execute()
        if not first:
            return _answer_of_first_delivery(rkey)
    except Exception:  # noqa: BLE001 - Redis down: the database constraint still dedups
        log.warning("dedup key unavailable; relying on the database", exc_info=True)
        redis_ok, touch = False, True
    try:
        reply_xml = _store_and_dispatch(ctx, touch=bool(touch))
    except BaseException:
        if redis_ok:  # let WeChat's retry try again
            try:
                kv.client().delete(rkey)
            except Exception:  # noqa: BLE001
                log.warning("could not release dedup key %s", rkey, exc_info=True)
        raise
    if redis_ok:
        try:
            kv.client().set(rkey, REPLIED + reply_xml if reply_xml else DONE, ex=DEDUP_TTL, xx=True)
        except Exception:  # noqa: BLE001
            log.warning("could not keep the reply for retries", exc_info=True)
    return reply_xml


def _store_pending(ctx: EventContext) -> None:
    """Store the event for the processor (autocommit: durable before ``success``)."""
    if intake.store_pending(ctx.event):
        processing.wake()
    else:
        log.info("duplicate push %s for %s ignored", ctx.event.dedup_key, ctx.account.appid)


def touch_last_event(account_id: int, at: Any) -> None:
    """``last_event_at`` moves at most every 30 s per account (inline events: a Redis flag,
    set in :func:`ingest`, also spares the UPDATE in between)."""
    OfficialAccount.objects.filter(pk=account_id).exclude(
        last_event_at__gte=at - LAST_EVENT_RESOLUTION).update(last_event_at=at)


def _context(account: OfficialAccount, message: dict[str, Any], key: str) -> EventContext:
    """The handlers' context around an Event not stored yet."""
    event_key = message.get("EventKey")
    event = Event(
        team_id=account.team_id, account=account, openid=str(message.get("FromUserName", ""))[:64],
        msg_type=str(message.get("MsgType", ""))[:32],
        event=str(message.get("Event", ""))[:64] if message.get("MsgType") == "event" else "",
        event_key=(event_key if isinstance(event_key, str) else "")[:255], payload=message,
        create_time=_int_or_none(message.get("CreateTime")), dedup_key=key, received_at=timezone.now(),
    )
    return context_for(event, account)


def context_for(event: Event, account: OfficialAccount) -> EventContext:
    """The handlers' context of an event, stored or not (the processor's too)."""
    kind = event_kind(event.payload)
    return EventContext(account=account, event=event, message=event.payload, kind=kind,
                        openid=event.openid, scene=scene_of(kind, event.event_key))


def _store_and_dispatch(ctx: EventContext, *, touch: bool = True) -> str | None:
    """Store the event and run its handlers in one transaction, first without a savepoint
    per handler; if one fails, roll everything back and run again isolated (registry)."""
    try:
        reply = _store_and_run(ctx, touch=touch, isolate=False)
    except HandlerFailed as exc:
        log.info("handler %s failed for %s; running the event's handlers isolated", exc, ctx.kind)
        ctx = _context(ctx.account, ctx.message, ctx.event.dedup_key)
        reply = _store_and_run(ctx, touch=touch, isolate=True)
    if reply is None:
        return None
    if not isinstance(reply, Reply):
        log.error("a handler returned %r instead of a Reply; answering success", type(reply))
        return None
    return reply.render(to_user=ctx.openid, from_user=str(ctx.message.get("ToUserName", "")))


def _store_and_run(ctx: EventContext, *, touch: bool, isolate: bool) -> Reply | None:
    with transaction.atomic():
        # this fan's earlier events first, if the processor has not handled them yet
        processing.run_pending_of_fan(ctx.account, ctx.openid, isolate=isolate)
        if not insert_or_skip(ctx.event, ("account_id", "dedup_key")):
            log.info("duplicate push %s for %s ignored", ctx.event.dedup_key, ctx.account.appid)
            return None
        if touch:
            touch_last_event(ctx.account.pk, ctx.event.received_at)
        return registry.dispatch(ctx, isolate=isolate)
