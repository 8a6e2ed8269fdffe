"""Access tokens shared by every process through Redis, refreshed under a distributed lock.

WeChat invalidates the previous token 5 minutes after each fetch and allows 2,000
fetches a day (WECHAT.md §1.1), so processes must never fetch on their own. The store
keeps ``token`` and ``expires_at`` in a Redis hash per appid. A reader that finds the
token missing or inside the refresh margin takes the appid's Redis lock, reads again
(another process may have refreshed it while it waited) and only then fetches: N
processes needing a token at once cause exactly one fetch. A token WeChat rejected
(40001…) is replaced only if it is still the stored one; otherwise the newer stored
token is simply returned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings

from mediabao.wechat import kv
from mediabao.wechat.errors import TransportError, WeChatError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    """What is needed to fetch an account's token (no ORM object: usable anywhere)."""

    appid: str
    secret: str = ""
    mode: str = "developer"

    def __repr__(self) -> str:  # never print the secret
        return f"Credentials(appid={self.appid!r}, mode={self.mode!r})"


def credentials_for(account: Any) -> Credentials:
    if isinstance(account, Credentials):
        return account
    return Credentials(appid=account.appid, secret=account.appsecret or "",
                       mode=str(account.auth_mode))


def fetch_developer_token(credentials: Credentials) -> tuple[str, int]:
    """``cgi-bin/token`` with the AppSecret; raises the typed error WeChat answers."""
    from mediabao.wechat.client import request

    data = request("GET", "cgi-bin/token", appid=credentials.appid, params={
        "grant_type": "client_credential", "appid": credentials.appid, "secret": credentials.secret,
    })
    token, expires_in = data.get("access_token"), data.get("expires_in", 7200)
    if not isinstance(token, str) or not token:
        raise TransportError(errmsg="token response without access_token")
    return token, int(expires_in)


def fetch_token(credentials: Credentials) -> tuple[str, int]:
    if credentials.mode == "developer":
        return fetch_developer_token(credentials)
    from mediabao.wechat import component

    if credentials.mode == component.COMPONENT_MODE:  # the platform's own component token
        return component.fetch_component_token(component.config())
    if credentials.mode == "component":  # an account authorized to the platform
        return component.fetch_authorizer_token(credentials.appid)
    raise WeChatError(errmsg=f"no token fetcher for {credentials.mode} accounts")


class TokenStore:
    def __init__(self, fetch: Callable[[Credentials], tuple[str, int]] = fetch_token,
                 refresh_ahead: float | None = None, lock_timeout: float = 60.0,
                 wait_timeout: float = 45.0) -> None:
        self.fetch = fetch
        self.refresh_ahead = float(refresh_ahead if refresh_ahead is not None else getattr(
            settings, "WECHAT_TOKEN_REFRESH_AHEAD", 600))
        self.lock_timeout = lock_timeout
        self.wait_timeout = wait_timeout

    @staticmethod
    def _key(appid: str) -> str:
        return kv.key("token", appid)

    def _read(self, appid: str) -> tuple[str | None, float]:
        data = kv.client().hgetall(self._key(appid))
        try:
            return data.get("token") or None, float(data.get("expires_at", 0))
        except ValueError:
            return None, 0.0

    def _usable(self, token: str | None, expires_at: float, failed: str | None) -> bool:
        return bool(token) and token != failed and expires_at - time.time() > self.refresh_ahead

    def get(self, credentials: Credentials, *, failed_token: str | None = None) -> str:
        return self.get_with_expiry(credentials, failed_token=failed_token)[0]

    def get_with_expiry(self, credentials: Credentials, *,
                        failed_token: str | None = None) -> tuple[str, float]:
        """A valid token and its expiry (epoch seconds); fetches at most once per expiry."""
        token, expires_at = self._read(credentials.appid)
        if self._usable(token, expires_at, failed_token):
            return token, expires_at  # type: ignore[return-value]
        lock = kv.client().lock(kv.key("token-lock", credentials.appid), timeout=self.lock_timeout,
                                blocking_timeout=self.wait_timeout)
        if not lock.acquire():
            raise TransportError(errmsg="timed out waiting for another process to refresh the token")
        try:
            token, expires_at = self._read(credentials.appid)
            if self._usable(token, expires_at, failed_token):
                return token, expires_at  # type: ignore[return-value]
            if failed_token is None and token and expires_at > time.time():
                # Inside the refresh margin: refresh, but fall back to the still-valid token
                # if WeChat is unreachable right now.
                try:
                    return self._refresh(credentials)
                except TransportError:
                    log.warning("token refresh for %s failed; using the current token",
                                credentials.appid)
                    return token, expires_at
            return self._refresh(credentials)
        finally:
            try:
                lock.release()
            except Exception:  # noqa: BLE001 - lock expired meanwhile: nothing to release
                log.warning("token lock for %s expired before release", credentials.appid)

    def _refresh(self, credentials: Credentials) -> tuple[str, float]:
        token, expires_in = self.fetch(credentials)
        expires_at = time.time() + max(60, expires_in)
        self.put(credentials.appid, token, expires_at)
        log.info("fetched a new access token for %s (valid %ss)", credentials.appid, expires_in)
        return token, expires_at

    def put(self, appid: str, token: str, expires_at: float) -> None:
        key = self._key(appid)
        pipe = kv.client().pipeline()
        pipe.hset(key, mapping={"token": token, "expires_at": repr(expires_at)})
        pipe.expireat(key, int(expires_at) + 1)
        pipe.execute()

    def forget(self, appid: str) -> None:
        kv.client().delete(self._key(appid))


@lru_cache(maxsize=1)
def token_store() -> TokenStore:
    return TokenStore()
