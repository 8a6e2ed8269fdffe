"""Parametric QR codes (all four action names, WeChat's ranges) and ``showqrcode``."""

from __future__ import annotations

import base64
import functools
import io
import os
import struct

from aiohttp import web

from ..errors import WxError
from ..keys import SIM
from ..state import QRCode, rand_str
from . import Ctx, endpoint

TEMP_DEFAULT = 60
TEMP_MAX = 2592000
PERMANENT_SCENE_MAX = 100000
ACTIONS = ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE")


def make_ticket(url: str, created: int, expire: int) -> str:
    """A ticket shaped like WeChat's: base64 of a small binary record holding the url."""
    raw = (
        b"\x81\x01" + os.urandom(6) + b"\x00\x00\x00\x00\x01," + url.encode()
        + b"\x02\x04" + struct.pack("<I", created & 0xFFFFFFFF)
        + b"\x03\x04" + struct.pack("<I", expire & 0xFFFFFFFF)
    )
    return base64.b64encode(raw).decode()


def _scene(action: str, info: object) -> tuple[int | None, str | None]:
    if not isinstance(info, dict):
        raise WxError(40053)
    scene = info.get("scene")
    if scene is None:
        # WeChat silently uses scene 0 when the "scene" wrapper is missing.
        return (0, None) if action.endswith("_SCENE") and "STR" not in action else (None, "0")
    if not isinstance(scene, dict):
        raise WxError(40053)
    if "STR" in action:
        s = scene.get("scene_str")
        if not isinstance(s, str) or not 1 <= len(s) <= 64:
            raise WxError(40053)
        return None, s
    sid = scene.get("scene_id")
    if isinstance(sid, str) and sid.lstrip("-").isdigit():
        sid = int(sid)
    if not isinstance(sid, int) or isinstance(sid, bool):
        raise WxError(40053)
    if action == "QR_LIMIT_SCENE":
        if not 1 <= sid <= PERMANENT_SCENE_MAX:
            raise WxError(40053)
    elif sid == 0 or not -(2**31) <= sid < 2**32:
        raise WxError(40053)
    return sid, None


@endpoint("/cgi-bin/qrcode/create", ("POST",), quota="qrcode/create", service=True,
          verified=True)
async def create(ctx: Ctx) -> dict:
    body = await ctx.json()
    action = body.get("action_name")
    if action not in ACTIONS:
        raise WxError(40052)
    scene_id, scene_str = _scene(action, body.get("action_info"))
    acct = ctx.acct
    state = ctx.sim.state
    now = ctx.sim.clock.now_int()
    permanent = action.startswith("QR_LIMIT")
    expire_at = None
    expire = 0
    if permanent:
        key = f"{action}:{scene_str if scene_str is not None else scene_id}"
        existing = acct.permanent_by_scene.get(key)
        if existing:
            q = acct.qrcodes[existing]
            return {"ticket": q.ticket, "url": q.url}
        if len(acct.permanent_by_scene) >= acct.qr_permanent_cap:
            raise WxError(40053, "invalid action info hint: [permanent qrcode quota used up]")
    else:
        exp = body.get("expire_seconds", TEMP_DEFAULT)
        if isinstance(exp, str) and exp.isdigit():
            exp = int(exp)
        if not isinstance(exp, int) or isinstance(exp, bool) or exp <= 0:
            raise WxError(47001)
        expire = min(exp, TEMP_MAX)
        expire_at = now + expire
    code = rand_str(20)
    while code in state.qr_codes:
        code = rand_str(20)
    url = f"http://weixin.qq.com/q/{code}"
    ticket = make_ticket(url, now, expire)
    q = QRCode(ticket, code, action, scene_id, scene_str, now, expire_at)
    acct.qrcodes[ticket] = q
    acct.last_qr_ticket = ticket
    state.tickets[ticket] = (acct.appid, ticket)
    state.qr_codes[code] = (acct.appid, ticket)
    if permanent:
        acct.permanent_by_scene[f"{action}:{q.scene}"] = ticket
        return {"ticket": ticket, "url": url}
    return {"ticket": ticket, "expire_seconds": expire, "url": url}


@functools.lru_cache(maxsize=256)
def qr_jpeg(url: str) -> bytes:
    """A real JPEG of the QR code encoding ``url`` (segno draws, Pillow encodes)."""
    import segno
    from PIL import Image

    png = io.BytesIO()
    segno.make(url, error="m", micro=False).save(png, kind="png", scale=10, border=4)
    png.seek(0)
    img = Image.open(png).convert("RGB")
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


async def showqrcode(request: web.Request) -> web.Response:
    """``GET /cgi-bin/showqrcode?ticket=`` (no access_token), as mp.weixin.qq.com serves it."""
    sim = request.app[SIM]
    ticket = request.query.get("ticket", "")
    ref = sim.state.tickets.get(ticket)
    if ref is None:
        return web.Response(status=404, text="ticket not found")
    q = sim.state.accounts[ref[0]].qrcodes.get(ticket)
    if q is None or (q.expire_at is not None and q.expire_at <= sim.clock.now()):
        return web.Response(status=404, text="ticket expired")
    return web.Response(
        body=qr_jpeg(q.url), content_type="image/jpg",
        headers={"Cache-Control": "max-age=604800"},
    )
