"""aiohttp application keys shared by the app, the pages and the control API."""

from typing import Any

from aiohttp import web

SIM: web.AppKey[Any] = web.AppKey("wxsim.sim")
