"""Event pushes to the platform's callback URL, as WeChat makes them.

Plain, compat or safe mode with WeChat's query parameters; a 5-second timeout;
retries (same body, so the same CreateTime and MsgId) on timeout, transport error
or an invalid answer; the passive reply parsed (decrypted in safe mode) and put
in the fan's inbox; every push logged with its latency. TEMPLATESENDJOBFINISH
pushes go through a bounded queue drained by background workers so that
template/send never waits for the platform.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import aiohttp

from . import xmlmsg as xml
from .crypto import CryptoError, WXBizMsgCrypt, random_nonce, sha1_signature

if TYPE_CHECKING:
    from .app import Sim
    from .state import Account, Component

log = logging.getLogger("wxsim.push")
UNAVAILABLE = "该公众号暂时无法提供服务，请稍后再试"
REPLY_TYPES = ("text", "image", "voice", "video", "music", "news", "transfer_customer_service")


class Target:
    """Where and how to push for one account (its own server or its component's)."""

    __slots__ = ("url", "token", "mode", "crypt", "to_name")

    def __init__(self, url: str, token: str, mode: str, crypt: WXBizMsgCrypt | None,
                 to_name: str) -> None:
        self.url = url
        self.token = token
        self.mode = mode
        self.crypt = crypt
        self.to_name = to_name


class Pusher:
    def __init__(self, sim: Sim, timeout: float = 5.0, retries: int = 3,
                 workers: int = 32, queue_size: int = 100_000) -> None:
        self.sim = sim
        self.timeout = timeout
        self.retries = retries
        self.n_workers = workers
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=queue_size)
        self.session: aiohttp.ClientSession | None = None
        self.tasks: list[asyncio.Task] = []
        self.dropped = 0
        self.sent = 0

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, force_close=False),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        self.tasks = [asyncio.create_task(self._worker()) for _ in range(self.n_workers)]

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self.session is not None:
            await self.session.close()

    async def drain(self, timeout: float = 10.0) -> bool:
        """Wait until queued pushes are delivered (tests use this)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.empty() and getattr(self.queue, "_unfinished_tasks", 0) == 0:
                return True
            await asyncio.sleep(0.01)
        return False

    # targets
    def target(self, acct: Account) -> Target | None:
        for cappid in sorted(acct.components):
            comp = self.sim.state.components.get(cappid)
            if comp is not None and comp.msg_url:
                crypt = WXBizMsgCrypt(comp.token, comp.encoding_aes_key, comp.appid)
                url = comp.msg_url.replace("$APPID$", acct.appid)
                return Target(url, comp.token, "safe", crypt, acct.original_id)
        if not acct.server_url:
            return None
        crypt = None
        if acct.encrypt_mode in ("safe", "compat"):
            crypt = WXBizMsgCrypt(acct.token, acct.encoding_aes_key, acct.appid)
        return Target(acct.server_url, acct.token, acct.encrypt_mode, crypt, acct.original_id)

    # template job finish (queued)
    def enqueue_template_finish(self, acct: Account, openid: str, msgid: int, status: str,
                                create_time: int) -> None:
        if not acct.server_url and not acct.components:
            return
        try:
            self.queue.put_nowait((acct.appid, openid, msgid, status, create_time))
        except asyncio.QueueFull:
            self.dropped += 1

    async def _worker(self) -> None:
        while True:
            appid, openid, msgid, status, ct = await self.queue.get()
            try:
                acct = self.sim.state.accounts.get(appid)
                i = acct.fans.index.get(openid) if acct else None
                if acct is not None and i is not None:
                    fields: list[tuple[str, object]] = [
                        ("MsgType", "event"), ("Event", "TEMPLATESENDJOBFINISH"),
                        ("MsgID", msgid), ("Status", status),
                    ]
                    await self.push_event(acct, i, fields, create_time=ct, deliver_reply=False)
            except Exception:  # noqa: BLE001 - a push must never kill the worker
                log.exception("template finish push failed")
            finally:
                self.queue.task_done()

    # the push itself
    async def push_event(self, acct: Account, fan: int, fields: list[tuple[str, object]],
                         create_time: int | None = None, deliver_reply: bool = True) -> dict:
        """Push one message/event from fan ``fan`` and handle the passive reply."""
        target = self.target(acct) if acct.pushes_enabled else None
        openid = acct.fans.openids[fan]
        ct = create_time if create_time is not None else self.sim.clock.now_int()
        plain = xml.build([("ToUserName", acct.original_id), ("FromUserName", openid),
                           ("CreateTime", ct), *fields])
        event = next((str(v) for k, v in fields if k == "Event"), None) or str(fields[0][1])
        if target is None:
            return {"pushed": False, "reason": "no server url or pushes disabled",
                    "xml": plain}
        result = await self._post(target, plain, openid, acct.appid, event)
        result["xml"] = plain
        if deliver_reply:
            now = self.sim.clock.now_int()
            if result["status"] == "reply":
                entry = {"seq": self.sim.state.next_seq(), "time": now, "channel": "passive",
                         **result["reply"]}
                acct.fans.deliver(fan, entry)
                if entry.get("msgtype") == "image":
                    self.sim.on_image_delivered(acct, fan)
                elif entry.get("msgtype") == "news":
                    self.sim.on_link_delivered(acct, fan, str(entry["articles"][0].get("url") or ""))
            elif result["status"] == "failed":
                acct.fans.deliver(fan, {"seq": self.sim.state.next_seq(), "time": now,
                                        "channel": "system", "msgtype": "text",
                                        "content": UNAVAILABLE})
        return result

    async def _post(self, target: Target, plain: str, openid: str | None, appid: str,
                    event: str) -> dict:
        ts = str(self.sim.clock.now_int())
        nonce = random_nonce()
        params = {"signature": sha1_signature(target.token, ts, nonce), "timestamp": ts,
                  "nonce": nonce}
        if openid:
            params["openid"] = openid
        body = plain
        if target.crypt is not None and target.mode in ("safe", "compat"):
            enc = target.crypt.encrypt(plain)
            params["encrypt_type"] = "aes"
            params["msg_signature"] = target.crypt.signature(ts, nonce, enc)
            if target.mode == "safe":
                body = xml.build([("ToUserName", target.to_name), ("Encrypt", enc)])
            else:
                body = plain[: -len("</xml>")] + f"<Encrypt>{xml.cdata(enc)}</Encrypt></xml>"
        return await self.post_with_retries(target.url, params, body.encode(), appid, event,
                                            lambda text: self._parse_reply(target, text))

    async def post_with_retries(self, url: str, params: dict, body: bytes, appid: str,
                                event: str, parse: Any) -> dict:
        assert self.session is not None
        attempts = []
        status, reply, error = "failed", None, ""
        for _ in range(1 + self.retries):
            t0 = time.perf_counter()
            try:
                async with self.session.post(
                    url, params=params, data=body,
                    headers={"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0"},
                    timeout=aiohttp.ClientTimeout(total=self.timeout),
                ) as resp:
                    text = await resp.text(errors="replace")
                    ms = (time.perf_counter() - t0) * 1000
                    if resp.status != 200:
                        error = f"HTTP {resp.status}"
                        attempts.append({"ms": round(ms, 2), "error": error})
                        continue
                    try:
                        reply = parse(text)
                    except (ValueError, CryptoError, KeyError) as exc:
                        error = f"invalid reply: {exc}"
                        attempts.append({"ms": round(ms, 2), "error": error})
                        continue
                    attempts.append({"ms": round(ms, 2), "status": resp.status})
                    status = "reply" if reply else "ok"
                    error = ""
                    break
            except TimeoutError:
                error = "timeout"
                attempts.append({"ms": round((time.perf_counter() - t0) * 1000, 2),
                                 "error": error})
            except aiohttp.ClientError as exc:
                error = f"{type(exc).__name__}: {exc}"
                attempts.append({"ms": round((time.perf_counter() - t0) * 1000, 2),
                                 "error": error})
        self.sent += 1
        self.sim.state.push_log.append({
            "time": self.sim.clock.now_int(), "appid": appid, "event": event, "url": url,
            "status": status, "attempts": len(attempts),
            "latency_ms": attempts[-1]["ms"] if attempts else None, "error": error,
        })
        return {"pushed": True, "status": status, "attempts": attempts, "reply": reply,
                "error": error}

    def _parse_reply(self, target: Target, text: str) -> dict | None:
        """Validate a passive reply; None for ``success``/empty, ValueError if invalid."""
        stripped = text.strip()
        if stripped in ("", "success"):
            return None
        doc = xml.parse(stripped)
        if "Encrypt" in doc:
            if target.crypt is None:
                raise ValueError("encrypted reply in plain mode")
            sig = sha1_signature(target.token, doc.get("TimeStamp", ""), doc.get("Nonce", ""),
                                 doc["Encrypt"])
            if sig != doc.get("MsgSignature"):
                raise ValueError("bad MsgSignature")
            doc = xml.parse(target.crypt.decrypt(doc["Encrypt"]))
        elif target.mode == "safe":
            raise ValueError("plaintext reply in safe mode")
        msgtype = doc.get("MsgType")
        if msgtype not in REPLY_TYPES:
            raise ValueError(f"unknown MsgType {msgtype!r}")
        out: dict = {"msgtype": msgtype}
        if msgtype == "text":
            if not doc.get("Content"):
                raise ValueError("empty Content")
            out["content"] = doc["Content"]
        elif msgtype in ("image", "voice"):
            media = doc.get(msgtype.capitalize())
            if not isinstance(media, dict) or not media.get("MediaId"):
                raise ValueError("missing MediaId")
            out["media_id"] = media["MediaId"]
        elif msgtype == "news":
            arts = doc.get("Articles") or []
            if not isinstance(arts, list) or not arts or len(arts) > 1:
                raise ValueError("news reply must carry exactly one article")
            out["articles"] = [{k.lower(): v for k, v in a.items()} for a in arts]
        else:
            out["raw"] = doc
        return out

    async def push_component(self, comp: Component, fields: list[tuple[str, object]],
                             info_type: str) -> dict:
        """Push an encrypted component notification (ticket, authorized, …) to ticket_url."""
        if not comp.ticket_url:
            return {"pushed": False, "reason": "component has no ticket_url"}
        plain = xml.build([("AppId", comp.appid), ("CreateTime", self.sim.clock.now_int()),
                           ("InfoType", info_type), *fields])
        crypt = WXBizMsgCrypt(comp.token, comp.encoding_aes_key, comp.appid)
        ts = str(self.sim.clock.now_int())
        nonce = random_nonce()
        enc = crypt.encrypt(plain)
        params = {"signature": sha1_signature(comp.token, ts, nonce), "timestamp": ts,
                  "nonce": nonce, "encrypt_type": "aes",
                  "msg_signature": crypt.signature(ts, nonce, enc)}
        body = xml.build([("AppId", comp.appid), ("Encrypt", enc)]).encode()

        def parse(text: str) -> None:
            if text.strip() != "success":
                raise ValueError("component notifications must be answered with 'success'")

        result = await self.post_with_retries(comp.ticket_url, params, body, comp.appid,
                                              info_type, parse)
        result["xml"] = plain
        return result
