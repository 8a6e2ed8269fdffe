"""WeChat API endpoints. Each module registers handlers with :func:`endpoint`.

A handler receives a :class:`Ctx` and returns a dict (serialized as JSON) or an
aiohttp response; it raises :class:`~wxsim.errors.WxError` for WeChat errors.
The dispatcher in :mod:`wxsim.app` does token checks, quotas, fault injection,
counters and the never-a-500 guarantee around every handler.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..errors import WxError

if TYPE_CHECKING:
    from ..app import Sim
    from ..state import Account, TokenInfo


class Ctx:
    """Per-request context handed to API handlers."""

    __slots__ = ("request", "sim", "acct", "token", "_json")

    def __init__(self, request: web.Request, sim: Sim) -> None:
        self.request = request
        self.sim = sim
        self.acct: Account = None  # type: ignore[assignment]
        self.token: TokenInfo | None = None
        self._json: Any = None

    @property
    def query(self) -> Any:
        return self.request.query

    async def json(self) -> dict:
        """The JSON body as a dict; 44002 when empty, 47001 when malformed."""
        if self._json is None:
            raw = await self.request.read()
            if not raw.strip():
                raise WxError(44002)
            try:
                data = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                raise WxError(47001, "data format error hint: [json parse error]") from exc
            if not isinstance(data, dict):
                raise WxError(47001)
            self._json = data
        return self._json


Handler = Callable[[Ctx], Awaitable[Any]]


@dataclass
class Endpoint:
    name: str
    path: str
    methods: tuple[str, ...]
    func: Handler
    auth: str  # "token", "component", "none"
    quota: str | None
    need_service: bool
    need_verified: bool


REGISTRY: list[Endpoint] = []


def endpoint(
    path: str,
    methods: tuple[str, ...] = ("GET",),
    *,
    auth: str = "token",
    quota: str | None = None,
    service: bool = False,
    verified: bool = False,
    name: str | None = None,
) -> Callable[[Handler], Handler]:
    """Register a WeChat API handler under ``path`` (e.g. ``/cgi-bin/user/get``)."""

    def deco(func: Handler) -> Handler:
        ep_name = name or path.removeprefix("/cgi-bin/").removeprefix("/")
        REGISTRY.append(
            Endpoint(ep_name, path, methods, func, auth, quota, service, verified)
        )
        return func

    return deco


def str_field(body: dict, key: str, code: int = 47001, *, required: bool = True) -> str:
    """A string field of a JSON body, or WxError(code)."""
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise WxError(code)
    return value


def load_all() -> None:
    """Import every endpoint module so that it registers its handlers."""
    from . import component, custom, media, oauth, qrcode, template, token, user  # noqa: F401
