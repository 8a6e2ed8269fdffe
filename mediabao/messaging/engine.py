"""The delivery engine: runners claim chunks of recipients and send them concurrently.

A runner (one Celery task, see :mod:`.tasks`) loops:

1. **claim** a chunk with ``SELECT … FOR UPDATE SKIP LOCKED`` and mark it ``sending`` in
   the same statement (any number of runners on any number of workers share a job);
   the next chunk is claimed while the current one is on the wire;
2. **send** the chunk with :class:`~mediabao.wechat.client.AsyncWeChatClient`, at most
   ``concurrency`` requests in flight, under a per-account rate limit kept in Redis
   and shared by every worker;
3. **write** all results of the chunk, the job's counters and (customer-service) the
   fans' window counts in ONE statement (``UPDATE … FROM (VALUES …)``).

Crash safety: template sends carry ``client_msg_id = "<job>-<recipient>"``, which WeChat
deduplicates for 10 minutes, so a row left in ``sending`` by a dead worker is claimed
again after the lease and re-sent safely. A customer-service send has no such key:
a stale ``sending`` row, or a send whose answer was lost, becomes ``unknown`` and is
never re-sent. 45009 pauses the job with the reason; account-level errors (invalid
template, API unauthorized, IP whitelist…) fail it; 43004 skips the fan.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from mediabao.messaging import conf
from mediabao.messaging.models import DeliverySettings, Recipient, SendJob
from mediabao.wechat.client import AsyncWeChatClient, RetryPolicy
from mediabao.wechat.errors import SystemBusy, TransportError, WeChatError

log = logging.getLogger(__name__)

TEMPLATE_SEND = "cgi-bin/message/template/send"
CUSTOM_SEND = "cgi-bin/message/custom/send"
#: Errors of the account or the message, not of one fan: stop the whole job.
JOB_FATAL = frozenset({40037, 40036, 48001, 61003, 61007, 40164, 61004, 40013, 40125, 40243,
                       61023, 61024, 40007, 45008, 40008, 41001})
#: Transient: give the recipient back to the queue (bounded by conf.max_attempts()).
RELEASE = "release"


@dataclass
class Claimed:
    id: int
    openid: str
    fan_id: int | None
    channel: str
    attempts: int


@dataclass
class Result:
    id: int
    state: str  # a Recipient.State value or RELEASE
    channel: str = ""
    reason: str = ""
    msgid: str = ""
    errcode: int | None = None
    errmsg: str = ""
    fan_id: int | None = None
    window: int = 0  # 1: consume one customer-service send; 2: the window is closed
    attempt_back: bool = False  # released unsent: the claim does not count as an attempt


class StopJob(Exception):
    """45009 (pause) or an account-level error (fail): no runner should go on."""

    def __init__(self, state: str, reason: str) -> None:
        super().__init__(reason)
        self.state, self.reason = state, reason


# --- database side (runs in the runner's DB thread) --------------------------------------
_CLAIM = """
WITH c AS (
    SELECT r.id FROM messaging_recipient r
    WHERE r.job_id = %(job)s
      AND EXISTS (SELECT 1 FROM messaging_sendjob j WHERE j.id = %(job)s AND j.state = 'running')
      AND (r.state = 'pending'
           OR (%(reclaim)s AND r.state = 'sending'
               AND r.updated_at < clock_timestamp() - make_interval(secs => %(lease)s)))
    ORDER BY r.id LIMIT %(limit)s
    FOR UPDATE OF r SKIP LOCKED
)
UPDATE messaging_recipient r SET state = 'sending', attempts = r.attempts + 1, updated_at = clock_timestamp()
FROM c WHERE r.id = c.id
RETURNING r.id, r.openid, r.fan_id, r.channel, r.attempts
"""


def claim(job_id: int, kind: str, limit: int) -> list[Claimed]:
    with connection.cursor() as cur:
        cur.execute(_CLAIM, {"job": job_id, "limit": limit, "lease": conf.lease_seconds(),
                             "reclaim": kind == SendJob.Kind.TEMPLATE})
        rows = cur.fetchall()
    return [Claimed(*row) for row in sorted(rows)]


def job_state(job_id: int) -> str | None:
    return SendJob.objects.filter(pk=job_id).values_list("state", flat=True).first()


_WRITE = """
WITH v (id, state, channel, reason, msgid, errcode, errmsg, fan_id, win, back) AS (VALUES {values}),
upd AS (
    UPDATE messaging_recipient r
    SET state = v.state,
        channel = CASE WHEN v.channel = '' THEN r.channel ELSE v.channel END,
        reason = v.reason, msgid = v.msgid, errcode = v.errcode, errmsg = v.errmsg,
        attempts = r.attempts - v.back, updated_at = clock_timestamp()
    FROM v WHERE r.id = v.id AND r.state = 'sending'
    RETURNING r.state
),
win AS (
    UPDATE fans_fan f SET
        event_window_left = CASE
            WHEN v.win = 2 THEN 0
            WHEN f.event_window_until > clock_timestamp() AND f.event_window_left > 0
                 AND NOT (f.message_window_until > clock_timestamp() AND f.message_window_left > 0
                          AND f.message_window_until < f.event_window_until)
            THEN f.event_window_left - 1 ELSE f.event_window_left END,
        message_window_left = CASE
            WHEN v.win = 2 THEN 0
            WHEN f.event_window_until > clock_timestamp() AND f.event_window_left > 0
                 AND NOT (f.message_window_until > clock_timestamp() AND f.message_window_left > 0
                          AND f.message_window_until < f.event_window_until)
            THEN f.message_window_left
            WHEN f.message_window_until > clock_timestamp() AND f.message_window_left > 0
            THEN f.message_window_left - 1 ELSE f.message_window_left END
    FROM v WHERE v.win > 0 AND f.id = v.fan_id
)
UPDATE messaging_sendjob SET
    sent = sent + (SELECT count(*) FROM upd WHERE state = 'sent'),
    failed = failed + (SELECT count(*) FROM upd WHERE state = 'failed'),
    skipped = skipped + (SELECT count(*) FROM upd WHERE state = 'skipped'),
    unknown = unknown + (SELECT count(*) FROM upd WHERE state = 'unknown'),
    heartbeat_at = clock_timestamp()
WHERE id = %s
"""
_ROW = ("(%s::bigint, %s::varchar, %s::varchar, %s::varchar, %s::varchar, %s::integer, %s::varchar,"
        " %s::bigint, %s::integer, %s::integer)")


def write(job_id: int, results: list[Result]) -> None:
    """All results of a chunk, the job's counters and the fans' windows: one statement."""
    if not results:
        return
    params: list[Any] = []
    for r in results:
        state = Recipient.State.PENDING if r.state == RELEASE else r.state
        params += [r.id, state, r.channel, r.reason, r.msgid[:32], r.errcode, r.errmsg[:300],
                   r.fan_id, r.window, int(r.attempt_back)]
    sql = _WRITE.format(values=", ".join([_ROW] * len(results)))
    with connection.cursor() as cur:
        cur.execute(sql, [*params, job_id])


def stop(job_id: int, state: str, reason: str) -> bool:
    """Pause (45009) or fail the job, once; True for the runner that did it."""
    values: dict[str, Any] = {"state": state, "pause_reason": reason[:300]}
    if state == SendJob.State.FAILED:
        values["finished_at"] = timezone.clock_timestamp()
    return bool(SendJob.objects.filter(pk=job_id, state=SendJob.State.RUNNING).update(**values))


def in_flight(job_id: int, kind: str) -> int:
    """Rows still ``sending``; stale customer-service ones become ``unknown`` here."""
    with connection.cursor() as cur:
        if kind == SendJob.Kind.CUSTOM:
            cur.execute("""
                WITH s AS (
                    UPDATE messaging_recipient SET state = 'unknown', updated_at = clock_timestamp(),
                        errmsg = 'the worker stopped during the send; not resent'
                    WHERE job_id = %s AND state = 'sending'
                      AND updated_at < clock_timestamp() - make_interval(secs => %s)
                    RETURNING 1)
                UPDATE messaging_sendjob SET unknown = unknown + (SELECT count(*) FROM s)
                WHERE id = %s""", [job_id, conf.lease_seconds(), job_id])
        cur.execute("SELECT count(*) FROM messaging_recipient WHERE job_id = %s AND state = 'sending'",
                    [job_id])
        return cur.fetchone()[0]


def finish(job_id: int) -> bool:
    """Mark the job done when no recipient is left; True for the runner that did it."""
    with connection.cursor() as cur:
        cur.execute("""
            UPDATE messaging_sendjob
            SET state = 'done', finished_at = clock_timestamp(), heartbeat_at = clock_timestamp()
            WHERE id = %s AND state = 'running' AND NOT EXISTS (
                SELECT 1 FROM messaging_recipient
                WHERE job_id = %s AND state IN ('pending', 'sending'))
            RETURNING id""", [job_id, job_id])
        return cur.fetchone() is not None


@dataclass
class Plan:
    """What a runner needs of the job, read once."""

    job_id: int
    kind: str
    account: Any
    template_body: dict | None
    custom_body: dict | None
    fallback_body: dict | None
    concurrency: int
    rate: int


def _template_body(message: dict) -> dict:
    body: dict[str, Any] = {"template_id": message["template_id"], "data": message.get("data", {})}
    if message.get("miniprogram"):
        body["miniprogram"] = message["miniprogram"]
    if message.get("url"):
        body["url"] = message["url"]
    return body


def plan(job_id: int) -> Plan | None:
    job = SendJob.objects.select_related("account").filter(pk=job_id).first()
    if job is None or job.state != SendJob.State.RUNNING:
        return None
    custom = template = fallback = None
    if job.kind == SendJob.Kind.TEMPLATE:
        template = _template_body(job.message)
    else:
        custom = dict(job.message)
        if custom.get("msgtype") == "image":
            from mediabao.messaging.models import Upload
            from mediabao.messaging.services import ensure_media_id

            upload = Upload.objects.select_related("account").get(pk=custom["image"]["upload"])
            custom = {"msgtype": "image", "image": {"media_id": ensure_media_id(upload)}}
        if job.fallback:
            fallback = _template_body(job.fallback)
    knobs = DeliverySettings.objects.filter(account_id=job.account_id).first()
    return Plan(job.pk, job.kind, job.account, template, custom, fallback,
                concurrency=max(1, knobs.concurrency if knobs else conf.default_concurrency()),
                rate=max(1, knobs.rate_per_second if knobs else conf.default_rate()))


# --- network side ---------------------------------------------------------------------------
class RateLimiter:
    """Messages per second per account, counted in Redis so all workers share one budget.

    Permits are taken from Redis in small blocks to keep Redis round trips far below
    one per message; a block not used within its second is simply lost.
    """

    def __init__(self, appid: str, rate: int) -> None:
        import redis.asyncio as aioredis
        from django.conf import settings

        from mediabao.wechat import kv

        self.redis = aioredis.Redis.from_url(settings.REDIS_URL)
        self.key = kv.key("msgrate", appid)
        self.rate = rate
        self.block = max(1, min(50, rate // 20))
        self.available = 0
        self.lock = asyncio.Lock()

    async def acquire(self) -> None:
        if self.available > 0:
            self.available -= 1
            return
        async with self.lock:
            while self.available <= 0:
                now = time.time()
                key = f"{self.key}:{int(now)}"
                pipe = self.redis.pipeline(transaction=False)
                pipe.incrby(key, self.block)
                pipe.expire(key, 3)
                used, _ok = await pipe.execute()
                granted = min(self.block, self.rate - (used - self.block))
                if granted > 0:
                    self.available += granted
                else:
                    await asyncio.sleep(max(0.001, int(now) + 1 - now))
            self.available -= 1

    async def close(self) -> None:
        await self.redis.aclose()


class Runner:
    def __init__(self, p: Plan) -> None:
        self.plan = p
        self.stop: StopJob | None = None
        self.template_client = AsyncWeChatClient(p.account)
        # No automatic resend of customer-service messages after a lost answer.
        self.custom_client = AsyncWeChatClient(p.account, policy=RetryPolicy(attempts=1))
        self.semaphore = asyncio.Semaphore(p.concurrency)
        self.limiter = RateLimiter(self.template_client.appid, p.rate)
        self.policy = RetryPolicy.from_settings()

    async def close(self) -> None:
        await self.template_client.close()
        await self.custom_client.close()
        await self.limiter.close()

    async def _template(self, rec: Claimed, body: dict, suffix: str = "") -> Result:
        payload = {"touser": rec.openid, **body,
                   "client_msg_id": f"{self.plan.job_id}-{rec.id}{suffix}"}
        try:
            result = await self.template_client.post(TEMPLATE_SEND, payload)
        except WeChatError as exc:
            return self._failure(rec, exc, Recipient.Channel.TEMPLATE)
        return Result(rec.id, Recipient.State.SENT, Recipient.Channel.TEMPLATE,
                      msgid=str(result.get("msgid", "")))

    async def _custom(self, rec: Claimed) -> Result:
        payload = {"touser": rec.openid, **(self.plan.custom_body or {})}
        attempt = 0
        while True:
            try:
                await self.custom_client.post(CUSTOM_SEND, payload)
                return Result(rec.id, Recipient.State.SENT, Recipient.Channel.CUSTOM,
                              fan_id=rec.fan_id, window=1)
            except SystemBusy as exc:
                # -1 is a definite "not sent": retry with bounded backoff.
                attempt += 1
                if attempt >= self.policy.attempts:
                    return self._failure(rec, exc, Recipient.Channel.CUSTOM)
                await asyncio.sleep(self.policy.delay(attempt - 1))
            except TransportError as exc:
                # The message may or may not have been delivered: report, never resend.
                return Result(rec.id, Recipient.State.UNKNOWN, Recipient.Channel.CUSTOM,
                              errmsg=f"outcome unknown: {exc.errmsg}"[:300])
            except WeChatError as exc:
                if exc.errcode in (45015, 45047):
                    reason = (Recipient.Reason.OUT_OF_WINDOW if exc.errcode == 45015
                              else Recipient.Reason.QUOTA_USED)
                    if self.plan.fallback_body:
                        result = await self._template(rec, self.plan.fallback_body)
                        result.fan_id, result.window = rec.fan_id, 2
                        return result
                    return Result(rec.id, Recipient.State.SKIPPED, Recipient.Channel.CUSTOM,
                                  reason=reason, errcode=exc.errcode, errmsg=exc.errmsg[:300],
                                  fan_id=rec.fan_id, window=2)
                return self._failure(rec, exc, Recipient.Channel.CUSTOM)

    def _failure(self, rec: Claimed, exc: WeChatError, channel: str) -> Result:
        code = exc.errcode
        base = {"channel": channel, "errcode": code, "errmsg": (exc.errmsg or str(exc))[:300]}
        if code == 45009:
            self.stop = self.stop or StopJob(SendJob.State.PAUSED, f"45009 {exc.meaning}")
            return Result(rec.id, RELEASE, attempt_back=True)
        if code in JOB_FATAL or exc.needs_reauthorization:
            self.stop = self.stop or StopJob(SendJob.State.FAILED, f"{code} {exc.meaning}")
            return Result(rec.id, RELEASE, attempt_back=True)
        if code == 43004:
            return Result(rec.id, Recipient.State.SKIPPED, reason=Recipient.Reason.UNSUBSCRIBED, **base)
        if code == 43019:
            return Result(rec.id, Recipient.State.SKIPPED, reason=Recipient.Reason.BLACKLISTED, **base)
        transient = exc.retryable or code in (45011, 45066) or exc.needs_token_refresh
        if transient and rec.attempts < conf.max_attempts() and channel == Recipient.Channel.TEMPLATE:
            return Result(rec.id, RELEASE)
        return Result(rec.id, Recipient.State.FAILED, **base)

    async def send(self, rec: Claimed) -> Result:
        if self.stop is not None:
            return Result(rec.id, RELEASE, attempt_back=True)
        async with self.semaphore:
            if self.stop is not None:
                return Result(rec.id, RELEASE, attempt_back=True)
            await self.limiter.acquire()
            if self.plan.kind == SendJob.Kind.TEMPLATE:
                return await self._template(rec, self.plan.template_body or {})
            if rec.channel == Recipient.Channel.TEMPLATE and self.plan.fallback_body:
                return await self._template(rec, self.plan.fallback_body)  # known out of window
            return await self._custom(rec)

    async def send_chunk(self, chunk: list[Claimed]) -> list[Result]:
        return list(await asyncio.gather(*(self.send(rec) for rec in chunk)))


class _Loop:
    """An event loop in a thread of its own for the network side.

    The database side stays on the caller's thread (its connection, its transaction in
    tests), and claims/writes overlap with the chunk on the wire.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="messaging-send")
        self.thread.start()

    def submit(self, coro) -> Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro) -> Any:
        return self.submit(coro).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def run(job_id: int) -> str:
    """Run one runner of a job until nothing is left to claim or the job stops.

    The entry point of the Celery task, of tests and of the benchmark. Logs how many
    recipients it handled and how many SQL statements that took (database round trips).
    """
    stats = {"statements": 0, "recipients": 0}

    def count(execute, sql, params, many, context):
        stats["statements"] += 1
        return execute(sql, params, many, context)

    t0 = time.perf_counter()
    with connection.execute_wrapper(count):
        result = _run(job_id, stats)
    log.info("runner job=%s recipients=%d statements=%d seconds=%.1f result=%s", job_id,
             stats["recipients"], stats["statements"], time.perf_counter() - t0, result)
    return result


def _run(job_id: int, stats: dict) -> str:
    try:
        p = plan(job_id)
    except WeChatError as exc:  # e.g. the image could not be uploaded: nobody can be sent to
        if stop(job_id, SendJob.State.FAILED, f"{exc.errcode} {exc.meaning}"):
            _notify(job_id)
        return SendJob.State.FAILED
    if p is None:
        return job_state(job_id) or "gone"
    size = conf.chunk_size()
    net = _Loop()

    async def make_runner() -> Runner:
        return Runner(p)

    runner = net.call(make_runner())
    until = time.monotonic() + conf.slice_seconds()
    try:
        chunk = claim(job_id, p.kind, size)
        done: list[Result] = []  # results of the previous chunk, written while the next flies
        while True:
            if not chunk:
                write(job_id, done)
                done = []
                state = job_state(job_id)
                if state != SendJob.State.RUNNING:
                    return state or "gone"
                if in_flight(job_id, p.kind):
                    # Another runner's chunk is on the wire, or a dead worker's rows wait for
                    # their lease to end: look again shortly.
                    time.sleep(min(1.0, max(0.05, conf.lease_seconds() / 4)))
                    chunk = claim(job_id, p.kind, size)
                    continue
                if finish(job_id):
                    _notify(job_id)
                    return "done"
                return "drained"
            stats["recipients"] += len(chunk)
            sending = net.submit(runner.send_chunk(chunk))
            # While this chunk is on the wire: write the previous one, claim the next one.
            write(job_id, done)
            chunk = claim(job_id, p.kind, size)
            done = sending.result()
            if runner.stop is not None:
                write(job_id, done + [Result(r.id, RELEASE, attempt_back=True) for r in chunk])
                if stop(job_id, runner.stop.state, runner.stop.reason):
                    _notify(job_id)
                return runner.stop.state
            if chunk and time.monotonic() > until:
                # Time slice used: give the claimed chunk back and queue a successor runner.
                write(job_id, done + [Result(r.id, RELEASE, attempt_back=True) for r in chunk])
                from mediabao.messaging import services

                services.launch(job_id, runners=1)
                return "yielded"
    finally:
        net.call(runner.close())
        net.close()


def _notify(job_id: int) -> None:
    from mediabao.messaging.tasks import notify_operator

    try:
        notify_operator.delay(job_id)
    except Exception:  # noqa: BLE001 - a notice must never break delivery
        log.warning("could not queue the notice of job %s", job_id, exc_info=True)


def body_size(body: dict) -> int:  # pragma: no cover - diagnostics for the benchmark
    return len(json.dumps(body, ensure_ascii=False).encode())
