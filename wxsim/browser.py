"""A scripted fan's browser: opens a link and follows redirects like WeChat's webview.

WeChat pages (OAuth authorize, component login page) are answered in-process for
the given fan or admin choice, whatever host the link names (open.weixin.qq.com,
mp.weixin.qq.com or the simulator's own base); everything else is fetched over
HTTP with a per-fan cookie jar so the platform's session survives the round trip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urljoin, urlsplit

import aiohttp

from .api import oauth
from .api.component import AuthorizeError, authorize

if TYPE_CHECKING:
    from .app import Sim
    from .state import Account

WECHAT_PAGES = ("/connect/oauth2/authorize", "/cgi-bin/componentloginpage",
                "/safe/bindcomponent")
BODY_LIMIT = 256 * 1024


class Browser:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.jars: dict[str, aiohttp.CookieJar] = {}

    def _jar(self, key: str) -> aiohttp.CookieJar:
        jar = self.jars.get(key)
        if jar is None:
            jar = self.jars[key] = aiohttp.CookieJar(unsafe=True)
        return jar

    async def open(self, url: str, acct: Account | None = None, fan: int | None = None,
                   pick: str = "", max_redirects: int = 10, method: str = "GET",
                   data: dict | None = None) -> dict:
        chain: list[dict] = []
        key = f"{acct.appid}:{fan}" if acct is not None else "admin"
        async with aiohttp.ClientSession(
            cookie_jar=self._jar(key), timeout=aiohttp.ClientTimeout(total=30)
        ) as session:
            for _ in range(max_redirects + 1):
                parts = urlsplit(url)
                if parts.path in WECHAT_PAGES:
                    params = dict(parse_qsl(parts.query, keep_blank_values=True))
                    location, page = await self._wechat_page(parts.path, params, acct, fan, pick)
                    if location is None:
                        chain.append({"url": url, "status": 200})
                        return {"ok": False, "final_url": url, "status": 200, "body": page,
                                "chain": chain}
                    chain.append({"url": url, "status": 302, "location": location})
                    url = location
                    method, data = "GET", None
                    continue
                headers = {"User-Agent": "Mozilla/5.0 (iPhone) MicroMessenger/8.0.50 wxsim"}
                try:
                    resp = await session.request(method, url, allow_redirects=False, data=data,
                                                 headers=headers)
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    chain.append({"url": url, "status": 0, "error": str(exc)})
                    return {"ok": False, "final_url": url, "status": 0,
                            "error": f"{type(exc).__name__}: {exc}", "chain": chain}
                async with resp:
                    body = (await resp.content.read(BODY_LIMIT)).decode("utf-8", "replace")
                    loc = resp.headers.get("Location")
                    if resp.status in (301, 302, 303, 307, 308) and loc:
                        nxt = urljoin(url, loc)
                        chain.append({"url": url, "status": resp.status, "location": nxt})
                        url = nxt
                        if resp.status in (301, 302, 303):
                            method, data = "GET", None
                        continue
                    chain.append({"url": url, "status": resp.status})
                    return {"ok": 200 <= resp.status < 400, "final_url": url,
                            "status": resp.status, "headers": dict(resp.headers),
                            "body": body, "chain": chain}
        return {"ok": False, "final_url": url, "status": 0, "error": "too many redirects",
                "chain": chain}

    async def _wechat_page(self, path: str, params: dict, acct: Account | None,
                           fan: int | None, pick: str) -> tuple[str | None, str]:
        sim = self.sim
        if path == "/connect/oauth2/authorize":
            try:
                target = oauth.check_request(sim, params)
            except oauth.PageError as exc:
                return None, f"{exc.code} {exc.text}"
            if acct is not None and acct.appid == target.appid and fan is not None:
                who = fan
            else:
                # A fan of another account opening this link: a new visitor to this one.
                who = oauth.visitor(sim, target)
            return oauth.approve(sim, target, params, who), ""
        if not pick:
            return None, "authorize page: pass pick=<authorizer appid> to choose an account"
        try:
            return await authorize(sim, params, pick), ""
        except AuthorizeError as exc:
            return None, str(exc)
