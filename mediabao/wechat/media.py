"""Uploading images to WeChat: permanent material (keyword replies) and temporary media.

Multipart uploads do not fit the JSON client, so this module posts the file itself with
the account's token from the shared store (refreshing once on a rejected token).
"""

from __future__ import annotations

from typing import Any

import requests

from mediabao.wechat.client import api_url, decode, http_session, timeout_seconds
from mediabao.wechat.errors import TransportError, WeChatError


def _upload(account: Any, path: str, kind: str, data: bytes, filename: str,
            content_type: str) -> dict[str, Any]:
    from mediabao.wechat.tokens import credentials_for, token_store

    credentials = credentials_for(account)
    store = token_store()
    token = store.get(credentials)
    for attempt in range(2):
        try:
            # Content-Type None: drop the session's JSON default so requests sets multipart.
            response = http_session().post(
                api_url(path), params={"access_token": token, "type": kind},
                files={"media": (filename, data, content_type)}, headers={"Content-Type": None},
                timeout=timeout_seconds() * 3)
        except requests.RequestException as exc:
            raise TransportError(errmsg=f"{type(exc).__name__}: {exc}") from exc
        try:
            return decode(response.status_code, response.text)
        except WeChatError as exc:
            if exc.needs_token_refresh and attempt == 0:
                token = store.get(credentials, failed_token=token)
                continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def add_image_material(account: Any, data: bytes, filename: str, content_type: str) -> str:
    """A permanent image (``material/add_material``): its media_id never expires."""
    result = _upload(account, "cgi-bin/material/add_material", "image", data, filename, content_type)
    return str(result["media_id"])


def upload_temporary_image(account: Any, data: bytes, filename: str, content_type: str) -> str:
    """A temporary image (``media/upload``): valid 3 days (WECHAT.md §1.5)."""
    result = _upload(account, "cgi-bin/media/upload", "image", data, filename, content_type)
    return str(result["media_id"])
