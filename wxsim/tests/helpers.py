"""Raw HTTP helpers for calling wxsim's WeChat API in tests."""

from __future__ import annotations

import re
from typing import Any

import requests

RID = re.compile(r" rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$")


class Api:
    def __init__(self, base_url: str, account: dict) -> None:
        self.base = base_url
        self.account = account
        self.http = requests.Session()
        self.token = ""

    def fetch_token(self) -> str:
        r = self.http.get(f"{self.base}/cgi-bin/token", params={
            "grant_type": "client_credential", "appid": self.account["appid"],
            "secret": self.account["secret"]}, timeout=10).json()
        self.token = r["access_token"]
        return self.token

    def get(self, path: str, token: str | None = None, **params: Any) -> dict:
        if token is None:
            token = self.token or self.fetch_token()
        if token:
            params["access_token"] = token
        r = self.http.get(f"{self.base}/cgi-bin/{path}", params=params, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def post(self, path: str, body: Any = None, token: str | None = None, raw: bytes | None = None,
             **params: Any) -> dict:
        if token is None:
            token = self.token or self.fetch_token()
        if token:
            params["access_token"] = token
        kw: dict = {"data": raw} if raw is not None else {"json": body}
        r = self.http.post(f"{self.base}/cgi-bin/{path}", params=params, timeout=10, **kw)
        assert r.status_code == 200, r.text
        return r.json()


def assert_err(res: dict, code: int) -> None:
    assert res.get("errcode") == code, res
    assert RID.search(res["errmsg"]), res["errmsg"]
