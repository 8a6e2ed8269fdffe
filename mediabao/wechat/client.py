"""The one path for every WeChat API call of an account, sync (requests) and async (aiohttp).

Every call: base URL from ``settings.WECHAT_API_BASE``; the access token from the shared
:mod:`token store <mediabao.wechat.tokens>`; ``errcode`` mapped to a typed error
(:mod:`mediabao.wechat.errors`); 40001/40014/42001 → refresh the token (only if the
failing token is still the stored one) and retry once; -1, timeouts, connection errors
and HTTP 5xx → bounded exponential backoff with jitter; everything else (45009, 45015,
45047, 43004, …) is raised at once. Each call is counted per account, endpoint and day
in Redis (see :func:`mediabao.wechat.selectors.call_counts`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import requests
import yarl
from django.conf import settings
from django.utils import timezone

from mediabao.wechat import kv
from mediabao.wechat.errors import TransportError, WeChatError, coerce_errcode, error_for

log = logging.getLogger(__name__)
COUNTER_TTL = 8 * 86400  # a week of daily counters, plus a day


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: ``attempts`` tries in total, ``base·2^n`` capped, jittered."""

    attempts: int = 4
    base: float = 0.5
    cap: float = 8.0

    def delay(self, n: int) -> float:
        return min(self.cap, self.base * 2 ** n) * (0.5 + random.random() / 2)

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        return cls(attempts=max(1, int(getattr(settings, "WECHAT_RETRY_ATTEMPTS", 4))),
                   base=float(getattr(settings, "WECHAT_RETRY_BASE_SECONDS", 0.5)),
                   cap=float(getattr(settings, "WECHAT_RETRY_CAP_SECONDS", 8.0)))


def timeout_seconds() -> float:
    return float(getattr(settings, "WECHAT_HTTP_TIMEOUT", 10.0))


def api_url(path: str) -> str:
    return f"{settings.WECHAT_API_BASE}/{path.lstrip('/')}"


def endpoint_name(path: str) -> str:
    """``cgi-bin/message/custom/send`` → ``message/custom/send`` (WeChat's quota names)."""
    path = path.lstrip("/").split("?", 1)[0]
    return path.removeprefix("cgi-bin/")


_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def decode(status: int, text: str | bytes) -> dict[str, Any]:
    """A WeChat answer as a dict, or the typed error it means."""
    if status >= 500:
        raise TransportError(errmsg=f"HTTP {status}")
    if status >= 400:
        raise WeChatError(errmsg=f"HTTP {status}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TransportError(errmsg="response is not JSON") from exc
    if not isinstance(data, dict):
        raise TransportError(errmsg="response is not a JSON object")
    if "errcode" in data:
        code = coerce_errcode(data["errcode"])
        if code != 0:
            raise error_for(code, str(data.get("errmsg", "")))
    return data


def _json_body(body: Any) -> bytes | None:
    # WeChat wants UTF-8 JSON with raw Chinese, not \u escapes (WECHAT.md §0).
    return None if body is None else json.dumps(body, ensure_ascii=False).encode()


def record_calls(appid: str, counts: Counter) -> None:
    """Add call counts (``endpoint`` and ``endpoint|errcode`` fields) to today's hash."""
    if not counts:
        return
    day = timezone.localdate().strftime("%Y%m%d")
    name = kv.key("calls", appid, day)
    try:
        pipe = kv.client().pipeline(transaction=False)
        for field, n in counts.items():
            pipe.hincrby(name, field, n)
        pipe.expire(name, COUNTER_TTL)
        pipe.execute()
    except Exception:  # noqa: BLE001 - counters must never break a call
        log.warning("could not record WeChat call counters for %s", appid, exc_info=True)


def _count_fields(endpoint: str, errcode: int | None) -> Counter:
    fields: Counter = Counter({endpoint: 1})
    if errcode != 0:
        fields[f"{endpoint}|{'transport' if errcode is None else errcode}"] += 1
    return fields


_local = threading.local()


def http_session() -> requests.Session:
    """One pooled session per thread (requests sessions are not thread-safe to share)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def request(method: str, path: str, *, params: dict | None = None, body: Any = None,
            files: dict | None = None, appid: str = "", policy: RetryPolicy | None = None,
            sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """One WeChat request with transient-error retries (no token handling; tokens use it too).

    ``body`` is sent as UTF-8 JSON; ``files`` (requests' format) as multipart, for
    ``media/upload`` and ``material/add_material``.
    """
    policy = policy or RetryPolicy.from_settings()
    endpoint = endpoint_name(path)
    data = _json_body(body)
    headers = JSON_HEADERS if data is not None else None
    timeout = timeout_seconds() * (3 if files else 1)  # uploads carry megabytes
    attempt = 0
    while True:
        try:
            try:
                response = http_session().request(method, api_url(path), params=params, data=data,
                                                  files=files, headers=headers, timeout=timeout)
            except requests.RequestException as exc:
                raise TransportError(errmsg=f"{type(exc).__name__}: {exc}") from exc
            result = decode(response.status_code, response.text)
        except WeChatError as exc:
            if appid:
                record_calls(appid, _count_fields(endpoint, exc.errcode))
            if exc.retryable and attempt + 1 < policy.attempts:
                delay = policy.delay(attempt)
                log.info("WeChat %s failed (%s); retry %d in %.2fs", endpoint, exc, attempt + 1, delay)
                sleep(delay)
                attempt += 1
                continue
            raise
        if appid:
            record_calls(appid, _count_fields(endpoint, 0))
        return result


class WeChatClient:
    """Synchronous client of one account: ``client.get("cgi-bin/user/info", openid=…)``."""

    def __init__(self, account: Any, *, store: Any = None, policy: RetryPolicy | None = None) -> None:
        from mediabao.wechat.tokens import credentials_for, token_store

        self.credentials = credentials_for(account)
        self.appid = self.credentials.appid
        self.store = store or token_store()
        self.policy = policy or RetryPolicy.from_settings()

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: Any = None, **params: Any) -> dict[str, Any]:
        return self.call("POST", path, params=params, body=body)

    def upload(self, path: str, files: dict, **params: Any) -> dict[str, Any]:
        """Multipart upload: ``client.upload("cgi-bin/media/upload", {"media": (name, data, type)},
        type="image")``."""
        return self.call("POST", path, params=params, files=files)

    def call(self, method: str, path: str, *, params: dict | None = None,
             body: Any = None, files: dict | None = None) -> dict[str, Any]:
        token = self.store.get(self.credentials)
        refreshed = False
        while True:
            try:
                return request(method, path, params={**(params or {}), "access_token": token},
                               body=body, files=files, appid=self.appid, policy=self.policy)
            except WeChatError as exc:
                if exc.needs_token_refresh and not refreshed:
                    refreshed = True
                    token = self.store.get(self.credentials, failed_token=token)
                    continue
                raise


class AsyncWeChatClient:
    """aiohttp client of one account for fan-out (bulk sends, syncs).

    The token is read from the shared store once and kept until shortly before it
    expires; counters are batched and written on :meth:`flush` / :meth:`close`
    (and every few hundred calls) so that thousands of calls per second do not mean
    thousands of Redis round trips.
    """

    FLUSH_EVERY = 500

    def __init__(self, account: Any, *, session: aiohttp.ClientSession | None = None,
                 store: Any = None, policy: RetryPolicy | None = None) -> None:
        from mediabao.wechat.tokens import credentials_for, token_store

        self.credentials = credentials_for(account)
        self.appid = self.credentials.appid
        self.store = store or token_store()
        self.policy = policy or RetryPolicy.from_settings()
        self._session = session
        self._own_session = session is None
        self._token: str | None = None
        self._token_until = 0.0
        self._token_lock = asyncio.Lock()
        self._counts: Counter = Counter()
        self._pending = 0
        self._urls: dict[tuple[str, str], yarl.URL] = {}

    async def __aenter__(self) -> AsyncWeChatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout_seconds()),
                connector=aiohttp.TCPConnector(limit=256),
            )
        return self._session

    async def close(self) -> None:
        await self.flush()
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def flush(self) -> None:
        counts, self._counts, self._pending = self._counts, Counter(), 0
        if counts:
            await asyncio.to_thread(record_calls, self.appid, counts)

    async def _get_token(self, failed: str | None = None) -> str:
        async with self._token_lock:
            if failed is None and self._token and time.time() < self._token_until:
                return self._token
            if failed is not None and self._token and self._token != failed:
                return self._token  # another coroutine already refreshed it
            token, expires_at = await asyncio.to_thread(
                self.store.get_with_expiry, self.credentials, failed_token=failed)
            self._token = token
            self._token_until = expires_at - self.store.refresh_ahead
            return token

    def _count(self, endpoint: str, errcode: int | None) -> None:
        self._counts.update(_count_fields(endpoint, errcode))
        self._pending += 1

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, body: Any = None, **params: Any) -> dict[str, Any]:
        return await self.call("POST", path, params=params, body=body)

    def _url(self, path: str, token: str, params: dict | None) -> yarl.URL:
        """The request URL; without other parameters it is built once per path and token
        (a bulk send makes thousands of calls with the same one)."""
        if params:
            return yarl.URL(api_url(path)).update_query({**params, "access_token": token})
        url = self._urls.get((path, token))
        if url is None:
            if len(self._urls) > 64:
                self._urls.clear()
            url = self._urls[(path, token)] = yarl.URL(api_url(path)).update_query(access_token=token)
        return url

    async def call(self, method: str, path: str, *, params: dict | None = None,
                   body: Any = None) -> dict[str, Any]:
        endpoint = endpoint_name(path)
        data = _json_body(body)
        token = await self._get_token()
        refreshed = False
        attempt = 0
        try:
            while True:
                try:
                    try:
                        async with self.session.request(
                            method, self._url(path, token, params), data=data, headers=_JSON_HEADERS,
                        ) as response:
                            # WeChat answers UTF-8 JSON: bytes straight to json.loads, no
                            # charset detection.
                            result = decode(response.status, await response.read())
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        raise TransportError(errmsg=f"{type(exc).__name__}: {exc}") from exc
                except WeChatError as exc:
                    self._count(endpoint, exc.errcode)
                    if exc.needs_token_refresh and not refreshed:
                        refreshed = True
                        token = await self._get_token(failed=token)
                        continue
                    if exc.retryable and attempt + 1 < self.policy.attempts:
                        await asyncio.sleep(self.policy.delay(attempt))
                        attempt += 1
                        continue
                    raise
                self._count(endpoint, 0)
                return result
        finally:
            if self._pending >= self.FLUSH_EVERY:
                await self.flush()
